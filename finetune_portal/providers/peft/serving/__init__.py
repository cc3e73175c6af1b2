"""Serving the local provider's models: an embedded OpenAI-compatible engine server and the portal's client.

The engine (the GPU worker host only; torch is imported inside functions):
- ``engine.py``: models kept warm in a memory-bounded LRU, LoRA adapters on their base, requests checked
  and handed to a generation;
- ``loading.py``: which folder a model name means here, and loading a model and its tokenizer;
- ``generation.py``: one answer, generate() in a thread of its own, cut at stop sequences, with its counts;
- ``streaming.py``: generate()'s token ids to pieces of text (incremental decoding, pieces joined when
  generation outruns the reader);
- ``stops.py``, ``errors.py``: stop sequences over streamed text; the engine's refusals.

- ``server.py``: the HTTP face of the engine, speaking the endpoints vLLM's server speaks
  (``python manage.py serve_models``).
- ``client.py``: what the portal calls; it talks to vLLM when ``VLLM_BASE_URL`` is set, else to the
  embedded server. The web process imports only this module and ``chat_http.py``, the streamed chat
  over a kept-alive connection that it uses.
"""
