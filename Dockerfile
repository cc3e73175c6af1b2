# One image for web, worker and beat; the GPU worker builds it with EXTRAS=ml on a CUDA base.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md constraints-ml.txt ./
COPY finetune_portal ./finetune_portal
RUN pip install --upgrade pip && pip install -c constraints-ml.txt ".${EXTRAS:+[$EXTRAS]}"
COPY . .
RUN DJANGO_ENV=development python manage.py collectstatic --noinput
RUN useradd --create-home portal && mkdir -p /app/var && chown -R portal /app/var
USER portal
EXPOSE 8000
# ASGI (uvicorn workers under gunicorn): open live streams wait on the event loop, not in a thread each.
CMD ["gunicorn", "finetune_portal.asgi:application", "--worker-class", "uvicorn_worker.UvicornWorker", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120", "--graceful-timeout", "10"]
