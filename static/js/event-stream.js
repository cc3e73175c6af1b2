/* Server-Sent Events read from a fetch response, for streams an EventSource cannot open (a POST with a
 * JSON body): each "event: x / data: {...}" frame is handed to ``onEvent(name, data)`` as it arrives.
 * The returned promise settles when the stream ends.
 */
export function readEvents(response, onEvent) {
  var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
  function pump() {
    return reader.read().then(function (chunk) {
      if (chunk.done) return;
      buffer += decoder.decode(chunk.value, {stream: true});
      var cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        var frame = buffer.slice(0, cut), name = "message", data = "";
        buffer = buffer.slice(cut + 2);
        frame.split("\n").forEach(function (line) {
          if (line.indexOf("event: ") === 0) name = line.slice(7);
          else if (line.indexOf("data: ") === 0) data += line.slice(6);
        });
        onEvent(name, data ? JSON.parse(data) : {});
      }
      return pump();
    });
  }
  return pump();
}
