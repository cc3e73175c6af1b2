"""Serving the local provider's models: an embedded OpenAI-compatible engine server and the portal's client.

- ``engine.py``: models kept warm in a memory-bounded LRU, LoRA adapters on their base, generation with
  transformers (the GPU worker host only; torch is imported inside functions).
- ``server.py``: the HTTP face of the engine, speaking the endpoints vLLM's server speaks
  (``python manage.py serve_models``).
- ``client.py``: what the portal calls; it talks to vLLM when ``VLLM_BASE_URL`` is set, else to the
  embedded server, with the ``openai`` SDK. The web process imports only this module.
"""
