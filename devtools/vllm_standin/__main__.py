"""Run the vLLM stand-in (not vLLM) as a process: ``python -m devtools.vllm_standin --port 8000``."""

from __future__ import annotations

import argparse

from devtools.vllm_standin.server import VllmStandin


def main() -> None:
    parser = argparse.ArgumentParser(description="A stand-in for vLLM's OpenAI-compatible server (not vLLM).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--model", default="Qwen/Qwen2.5-0.5B-Instruct", help="the base model it claims to serve"
    )
    args = parser.parse_args()
    server = VllmStandin((args.host, args.port), base_model=args.model)
    print(f"vLLM stand-in (not vLLM) serving {args.model!r} on {server.base_url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
