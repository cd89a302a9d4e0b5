# simon-visma operator image.
#
#   docker build -t simon-visma:dev .
#
# Stage 1 installs the package and its dependencies into a virtualenv; stage 2 copies only that
# virtualenv and the kopf entry point onto a clean base and runs them as an unprivileged user.
# The Helm chart (charts/simon-visma) runs the same command with its own flags.
#
# Reproducible: the base image is pinned by digest (the multi-platform index of the tag), and
# every Python package the image installs is pinned with its hashes in requirements/image.lock
# (regenerate with `make lock`). To move to a newer base, take the tag's current index digest
# (`docker buildx imagetools inspect python:3.11.x-slim-bookworm`) and change both FROM lines.

FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1 AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Every dependency (with the postgres extra, for the chart's database.type=postgresql) and the
# build backend, exactly as locked: pip refuses any file whose hash the lock does not name.
COPY requirements/image.lock ./requirements/image.lock
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: -r requirements/image.lock
# The package itself, built with the locked backend; its dependencies are all in place already,
# and `pip check` fails the build if the lock missed one.
COPY pyproject.toml README.md ./
COPY reconcilers ./reconcilers
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
 && pip check


FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SIMON_VISMA_DATABASE_URL=sqlite:////data/simon-visma.db \
    SIMON_VISMA_METRICS_PORT=9090 \
    SIMON_VISMA_LOG_VIEW_PORT=8081

RUN groupadd --system --gid 10001 simon-visma \
 && useradd --system --no-log-init --uid 10001 --gid 10001 \
      --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin simon-visma \
 && mkdir -p /data \
 && chown 10001:10001 /data

COPY --from=builder /opt/venv /opt/venv
COPY operator/main.py /app/operator/main.py

WORKDIR /app
USER 10001:10001

# 8080: kopf's liveness endpoint (/healthz); 8081: the read-only integration log view
# (/tenants/NAMESPACE/NAME/log, for `kubectl simon-visma log`); 9090: Prometheus metrics.
EXPOSE 8080 8081 9090

CMD ["kopf", "run", "/app/operator/main.py", "--all-namespaces", "--standalone", \
     "--liveness=http://0.0.0.0:8080/healthz", "--log-format=json"]
