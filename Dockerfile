# simon-visma operator image.
#
#   docker build -t simon-visma:dev .
#
# Stage 1 installs the package and its dependencies into a virtualenv; stage 2 copies only that
# virtualenv and the kopf entry point onto a clean base and runs them as an unprivileged user.
# The Helm chart (charts/simon-visma) runs the same command with its own flags.

FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconcilers ./reconcilers
# The postgres extra brings the PostgreSQL driver the chart's database.type=postgresql needs.
RUN pip install --no-cache-dir "./[postgres]"


FROM python:3.11.13-slim-bookworm

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SIMON_VISMA_DATABASE_URL=sqlite:////data/simon-visma.db \
    SIMON_VISMA_METRICS_PORT=9090

RUN groupadd --system --gid 10001 simon-visma \
 && useradd --system --no-log-init --uid 10001 --gid 10001 \
      --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin simon-visma \
 && mkdir -p /data \
 && chown 10001:10001 /data

COPY --from=builder /opt/venv /opt/venv
COPY operator/main.py /app/operator/main.py

WORKDIR /app
USER 10001:10001

# 8080: kopf's liveness endpoint (/healthz); 9090: Prometheus metrics (/metrics).
EXPOSE 8080 9090

CMD ["kopf", "run", "/app/operator/main.py", "--all-namespaces", "--standalone", \
     "--liveness=http://0.0.0.0:8080/healthz", "--log-format=json"]
