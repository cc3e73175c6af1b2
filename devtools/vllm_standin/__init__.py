"""A stand-in for vLLM's OpenAI-compatible server (NOT vLLM): the few endpoints the portal uses.

vLLM needs a GPU and cannot run in the tests, so they talk to this instead: ``/v1/models`` (the base model
and the adapters loaded at run time), ``/v1/chat/completions`` (streaming or not, with a canned answer
that names the model it came from), ``/v1/load_lora_adapter`` and ``/v1/unload_lora_adapter`` with
vLLM's answers (its success texts, its errors for a missing path, a name loaded twice, an unknown
adapter). ``restart()`` forgets every adapter, as a restarted vLLM does.
"""
