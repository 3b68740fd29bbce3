# HelixNet from its own wheel: `helixnet serve` by default, `helixnet worker` as the command of workers.
#   docker build -t helixnet .
#   docker compose -f docker-compose.dev.yml up --build     (PostgreSQL, Redis, MinIO, serve, 2 workers)
FROM python:3.12-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY helixnet ./helixnet
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 helixnet
COPY --from=wheel /wheels /wheels
# The wheel, with the production backends' extras: the image runs what `pip install helixnet` runs.
RUN pip install --no-cache-dir "$(ls /wheels/helixnet-*.whl)[postgres,s3]" && rm -rf /wheels
USER helixnet
WORKDIR /home/helixnet
ENV HELIXNET_HOST=0.0.0.0 \
    HELIXNET_PORT=8000 \
    HELIXNET_DATA_DIR=/home/helixnet/data \
    PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["helixnet", "serve"]
