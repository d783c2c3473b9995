# syntax=docker/dockerfile:1
# One image for catalog, webhook, auth, the sandbox and the one-shot jobs; compose picks the command.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# mysqlclient has no Linux wheel: it compiles against libmariadb-dev, found through pkg-config.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libmariadb-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
# The project is installed editable from /app, so the final stage keeps the same path.
RUN uv sync --frozen --no-dev && .venv/bin/python devstack/codegen.py

FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /app app \
    && mkdir -p /etc/farmlokal-edge && chown app /etc/farmlokal-edge
WORKDIR /app
COPY --from=build --chown=app /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1
USER app
EXPOSE 15051 15052 15053 9101 9201 9301 18090
CMD ["python", "-m", "catalog_service"]
