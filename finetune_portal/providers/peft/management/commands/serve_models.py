"""Run the embedded model server: ``python manage.py serve_models --host 127.0.0.1 --port 8766``."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from finetune_portal.providers.peft import conf


class Command(BaseCommand):
    help = "Serve base models, LoRA adapters and full fine-tunes over an OpenAI-compatible API (like vLLM's)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8766)
        parser.add_argument(
            "--threads",
            type=int,
            default=0,
            help="CPU threads per generation (torch.set_num_threads); 0 keeps torch's default. On a busy "
            "CPU, 1 is often fastest for the tiny demo model.",
        )

    def handle(self, *args, host: str, port: int, threads: int, **options):
        if threads:
            import torch

            torch.set_num_threads(threads)
        from finetune_portal.providers.peft.serving.engine import Engine
        from finetune_portal.providers.peft.serving.server import EngineServer

        engine = Engine(
            cache_dir=conf.model_cache_dir(),
            max_models=conf.inference_max_loaded_models(),
            max_bytes=conf.inference_max_loaded_bytes(),
            default_max_tokens=conf.inference_default_max_tokens(),
            stream_interval=conf.inference_stream_interval_seconds(),
        )
        server = EngineServer(engine, (host, port))
        self.stdout.write(f"Model server (embedded engine) listening on {server.base_url}")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
