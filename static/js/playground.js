// The playground: one conversation, answered side by side by up to four models, each answer streamed
// into its column as the server sends it (Server-Sent Events read from a fetch stream).
// The conversation lives here and is sent whole with every request; the server keeps no chat state.
// event-stream.js reads the answers' frames.
import { readEvents } from "./event-stream.js";

(function () {
  "use strict";
  var root = document.getElementById("playground");
  if (!root || !document.getElementById("pg-columns")) return;
  var columnsBox = document.getElementById("pg-columns");
  var transcript = document.getElementById("pg-transcript");
  var composer = document.getElementById("pg-composer");
  var sendButton = document.getElementById("pg-send");
  var editingNote = document.getElementById("pg-editing");
  var settingsForm = document.getElementById("pg-settings");
  var settingsError = document.getElementById("pg-settings-error");
  var maxColumns = parseInt(root.dataset.maxColumns, 10) || 4;
  // The page's CSRF token, as base.html hands it to HTMX (the cookie may be closed to scripts).
  var csrf = "";
  try { csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { csrf = ""; }
  var turns = [];  // {user: text, answers: [{model, text, figures, error, answerId, state}]}
  var editing = null;  // index of the user turn being edited
  var streaming = 0;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function columns() { return Array.prototype.slice.call(columnsBox.querySelectorAll("[data-column]")); }
  function modelOf(column) { return column.querySelector("select").value; }
  function models() { return columns().map(modelOf); }
  function uuid4() {
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function settings() {
    var data = new FormData(settingsForm), out = {};
    ["system_prompt", "temperature", "top_p", "max_tokens", "seed", "presence_penalty", "frequency_penalty"].forEach(function (k) {
      var v = (data.get(k) || "").trim();
      if (v !== "") out[k] = k === "system_prompt" ? data.get(k) : v;
    });
    out.stop = data.getAll("stop").filter(function (s) { return s !== ""; });
    return out;
  }

  // The messages column `col` sends: every earlier user turn with that column's own answer.
  function history(col, uptoTurn) {
    var messages = [];
    turns.slice(0, uptoTurn).forEach(function (turn) {
      messages.push({role: "user", content: turn.user});
      var answer = turn.answers[col];
      if (answer && answer.text && !answer.error) messages.push({role: "assistant", content: answer.text});
    });
    return messages;
  }

  function figuresText(f) {
    if (!f) return "";
    var parts = [];
    if (f.latency_ms != null) parts.push((f.latency_ms / 1000).toFixed(2) + " s");
    if (f.ttft_ms != null) parts.push("first token " + f.ttft_ms + " ms");
    if (f.prompt_tokens != null || f.completion_tokens != null) parts.push((f.prompt_tokens == null ? "?" : f.prompt_tokens) + " → " + (f.completion_tokens == null ? "?" : f.completion_tokens) + " tokens");
    if (f.tokens_per_second != null) parts.push(f.tokens_per_second + " tokens/s");
    if (f.cost_usd != null) parts.push("$" + Number(f.cost_usd).toFixed(6));
    if (f.finish_reason && f.finish_reason !== "stop") parts.push("ended: " + f.finish_reason);
    return parts.join(" · ");
  }

  function render() {
    transcript.textContent = "";
    var count = columns().length;
    turns.forEach(function (turn, index) {
      var box = el("div", "pg-turn");
      var user = el("div", "pg-user");
      user.appendChild(el("p", "", turn.user));
      var edit = el("button", "link-button small pg-edit", "Edit");
      edit.type = "button"; edit.dataset.turn = index; edit.disabled = streaming > 0;
      user.appendChild(edit);
      box.appendChild(user);
      var row = el("div", "pg-answers pg-cols-" + Math.max(turn.answers.length, 1));
      turn.answers.forEach(function (answer, col) {
        var card = el("article", "pg-answer pg-" + answer.state);
        card.dataset.turn = index; card.dataset.col = col;
        card.appendChild(el("header", "small muted pg-answer-model", answer.model));
        card.appendChild(el("div", "pg-text", answer.text || (answer.state === "streaming" ? "…" : "")));
        if (answer.error) card.appendChild(el("p", "pg-error", answer.error));
        var figures = figuresText(answer.figures);
        if (figures) card.appendChild(el("p", "pg-figures small muted", figures));
        if (answer.answerId && answer.text && !answer.error) {
          var add = el("button", "secondary outline small-button pg-add", "Add to dataset");
          add.type = "button"; add.dataset.turn = index; add.dataset.col = col;
          card.appendChild(add);
        }
        row.appendChild(card);
      });
      box.appendChild(row);
      transcript.appendChild(box);
    });
    sendButton.disabled = streaming > 0 || count === 0;
    sendButton.setAttribute("aria-busy", streaming > 0 ? "true" : "false");
    document.getElementById("pg-add-column").disabled = count >= maxColumns;
    columns().forEach(function (c) { c.querySelector(".pg-remove").hidden = count < 2; });
    renderCopy();
  }

  function renderCopy() {
    var box = document.getElementById("pg-copy-buttons");
    box.textContent = "";
    models().forEach(function (model, col) {
      var messages = history(col, turns.length), s = settings();
      if (s.system_prompt) messages.unshift({role: "system", content: s.system_prompt});
      var json = el("button", "secondary outline small-button", "JSON · " + (col + 1));
      json.type = "button"; json.title = model;
      json.setAttribute("data-copy", JSON.stringify(messages, null, 2));
      var py = el("button", "secondary outline small-button", "Python · " + (col + 1));
      py.type = "button"; py.title = model;
      py.setAttribute("data-copy", pythonSnippet(model, messages, s));
      box.appendChild(json); box.appendChild(py);
    });
  }

  function pythonSnippet(model, messages, s) {
    // JSON strings and numbers are valid Python literals; the messages hold nothing else.
    var args = ["    model=" + JSON.stringify(model) + ",", "    messages=" + JSON.stringify(messages, null, 4).replace(/\n/g, "\n    ") + ","];
    ["temperature", "top_p", "max_tokens", "seed", "presence_penalty", "frequency_penalty"].forEach(function (k) {
      if (s[k] !== undefined) args.push("    " + k + "=" + Number(s[k]) + ",");
    });
    if (s.stop.length) args.push("    stop=" + JSON.stringify(s.stop) + ",");
    args.push("    stream=True,");
    return [
      "from openai import OpenAI",
      "",
      "# A personal API token of this portal, scoped to this project.",
      "client = OpenAI(base_url=" + JSON.stringify(root.dataset.apiBase) + ", api_key=\"YOUR_PORTAL_API_TOKEN\")",
      "stream = client.chat.completions.create(",
      args.join("\n"),
      ")",
      "for chunk in stream:",
      "    if chunk.choices:",
      "        print(chunk.choices[0].delta.content or \"\", end=\"\", flush=True)",
      "print()",
    ].join("\n");
  }

  function ask(turnIndex, col) {
    var answer = turns[turnIndex].answers[col];
    var body = {model: answer.model, messages: history(col, turnIndex + 1), settings: settings()};
    streaming += 1;
    var ended = false;
    function finish(error) {
      if (ended) return;
      ended = true;
      if (error) answer.error = error;
      answer.state = answer.error ? "failed" : "done";
      streaming -= 1;
      render();
    }
    fetch(root.dataset.answerUrl, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "text/event-stream"},
      body: JSON.stringify(body),
    }).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (problem) {
          if (problem.field && problem.field !== "model" && problem.field !== "messages") showSettingsError(problem.error);
          finish(problem.error || ("The portal answered " + response.status + "."));
        }, function () { finish("The portal answered " + response.status + "."); });
      }
      return readEvents(response, function (name, data) {
        if (name === "delta") { answer.text += data.text; updateCard(turnIndex, col); }
        else if (name === "done") { answer.figures = data; answer.answerId = data.answer_id; finish(); }
        else if (name === "error") { answer.figures = data.answer_id ? data : null; finish(data.message); }
      }).then(function () { finish(ended ? "" : "The answer stopped before it ended."); });
    }).catch(function () { finish("The connection to the portal was lost; send again."); });
  }

  // While text streams, touch only that answer's text (the rest of the page stays as it is).
  function updateCard(turnIndex, col) {
    var card = transcript.querySelector('.pg-answer[data-turn="' + turnIndex + '"][data-col="' + col + '"] .pg-text');
    if (card) card.textContent = turns[turnIndex].answers[col].text;
  }

  function showSettingsError(message) {
    settingsError.textContent = message; settingsError.hidden = !message;
    if (message) settingsForm.closest("details").open = true;
  }

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var field = composer.elements.message, text = field.value;
    if (!text.trim() || streaming > 0) return;
    showSettingsError("");
    if (editing !== null) { turns = turns.slice(0, editing); setEditing(null); }
    turns.push({user: text, answers: models().map(function (m) { return {model: m, text: "", state: "streaming", error: "", figures: null, answerId: null}; })});
    field.value = "";
    render();
    var index = turns.length - 1;
    turns[index].answers.forEach(function (_, col) { ask(index, col); });
    render();
  });
  composer.elements.message.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) composer.requestSubmit();
  });

  function setEditing(index) {
    editing = index;
    editingNote.hidden = index === null;
    if (index !== null) {
      editingNote.querySelector("span").textContent = String(index + 1);
      composer.elements.message.value = turns[index].user;
      composer.elements.message.focus();
    }
  }
  document.getElementById("pg-cancel-edit").addEventListener("click", function () { setEditing(null); composer.elements.message.value = ""; });
  document.getElementById("pg-clear").addEventListener("click", function () { if (streaming === 0) { turns = []; setEditing(null); render(); } });

  transcript.addEventListener("click", function (event) {
    var edit = event.target.closest(".pg-edit");
    if (edit && streaming === 0) setEditing(parseInt(edit.dataset.turn, 10));
    var add = event.target.closest(".pg-add");
    if (add) openAdd(turns[parseInt(add.dataset.turn, 10)].answers[parseInt(add.dataset.col, 10)]);
  });

  document.getElementById("pg-add-column").addEventListener("click", function () {
    if (columns().length >= maxColumns) return;
    var copy = document.getElementById("pg-column-template").content.firstElementChild.cloneNode(true);
    var taken = models(), select = copy.querySelector("select");
    for (var i = 0; i < select.options.length; i++) {
      if (taken.indexOf(select.options[i].value) < 0) { select.selectedIndex = i; break; }
    }
    columnsBox.appendChild(copy);
    render();
    select.focus();
  });
  columnsBox.addEventListener("click", function (event) {
    var remove = event.target.closest(".pg-remove");
    if (remove && columns().length > 1) { remove.closest("[data-column]").remove(); render(); }
  });
  columnsBox.addEventListener("change", renderCopy);
  settingsForm.addEventListener("input", renderCopy);

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (data) { return {ok: response.ok, data: data}; });
    });
  }

  document.getElementById("pg-save-probe").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target, result = document.getElementById("pg-save-result");
    var pending = composer.elements.message.value.trim() && editing === null;
    var messages = history(0, turns.length);
    if (pending) messages.push({role: "user", content: composer.elements.message.value});
    postJSON(root.dataset.saveProbeUrl, {name: form.elements.name.value, messages: messages, settings: settings()}).then(function (r) {
      result.textContent = r.ok ? r.data.message : r.data.error;
      result.className = "small " + (r.ok ? "" : "field-error");
      if (r.ok) form.reset();
    });
  });

  var dialog = document.getElementById("pg-add-dialog"), adding = null;
  function openAdd(answer) {
    adding = {answer: answer, key: uuid4()};  // one key per opening: a double click adds once
    var form = document.getElementById("pg-add-form");
    if (form) {
      form.elements.content.value = answer.text;
      document.getElementById("pg-add-result").textContent = "";
    }
    dialog.showModal();
  }
  dialog.addEventListener("click", function (event) { if (event.target.closest("[data-close]")) dialog.close(); });
  var addForm = document.getElementById("pg-add-form");
  if (addForm) addForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var result = document.getElementById("pg-add-result");
    postJSON(root.dataset.addUrl, {
      key: adding.key, answer_id: adding.answer.answerId,
      dataset_id: addForm.elements.dataset_id.value, content: addForm.elements.content.value,
    }).then(function (r) {
      result.textContent = "";
      result.className = "small " + (r.ok ? "" : "field-error");
      if (r.ok) {
        result.appendChild(document.createTextNode(r.data.message + " "));
        var link = el("a", "", "Open the version"); link.href = r.data.url; result.appendChild(link);
      } else {
        result.textContent = r.data.error;
      }
    });
  });

  render();
  // The controls answer from here on (the page's script is a deferred module); tests wait for it.
  root.dataset.ready = "true";
})();
