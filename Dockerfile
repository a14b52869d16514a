# The Lumbung marketplace. Build: docker build -t lumbung .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LUMBUNG_DATA_DIR=/data \
    LUMBUNG_HOST=0.0.0.0 \
    LUMBUNG_PORT=8000

RUN apt-get update \
    && apt-get install -y --no-install-recommends busybox-static \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app lumbung

WORKDIR /app
COPY pyproject.toml README.md ./
COPY marketplace ./marketplace
COPY catalog ./catalog
COPY tenants ./tenants
COPY provisioning ./provisioning
COPY templates ./templates
COPY examples ./examples
RUN pip install --no-cache-dir -e . \
    && mkdir -p /data && chown lumbung /data

USER lumbung
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["marketplace", "serve"]
