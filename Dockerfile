# The bot's image: the locked runtime dependencies (hash-checked), then the project itself with
# nothing resolved or fetched for it. Runs as an unprivileged user.
#
#   docker build -t verdict-triage .
#   docker run --init --env-file triage.env -v triage-data:/data \
#     -v "$PWD/triage.yaml:/data/triage.yaml:ro" verdict-triage db upgrade   # any command
#   docker run --init -p 3000:3000 --env-file triage.env -v triage-data:/data \
#     -v "$PWD/triage.yaml:/data/triage.yaml:ro" verdict-triage              # serve on $PORT
#
# The working directory /data (owned by that user) holds the defaults ./triage.yaml and
# sqlite:///triage.db; set DATABASE_URL=postgresql://... for real use. The HEALTHCHECK polls
# /healthz, which only HTTP mode serves: run Socket Mode and `worker` with --no-healthcheck.
# --init gives those two a PID 1 that passes SIGTERM on (gunicorn handles it itself).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    PORT=3000

RUN groupadd --system --gid 10001 triage \
    && useradd --system --uid 10001 --gid triage --home-dir /data --create-home \
        --shell /usr/sbin/nologin triage \
    && python -m venv /opt/venv

# Dependencies first: this layer is rebuilt only when the lock changes.
COPY requirements/pip.txt requirements/lock-runtime.txt /tmp/requirements/
RUN pip install --require-hashes -r /tmp/requirements/pip.txt \
    && pip install --require-hashes -r /tmp/requirements/lock-runtime.txt \
    && rm -r /tmp/requirements

# The project, root-owned and read-only to the bot. Installed editable on purpose: the
# classifier reads prompts/ (taxonomy, prompt) beside the packages, which a wheel would not carry.
WORKDIR /app
COPY pyproject.toml README.md triage.example.yaml ./
COPY prompts ./prompts
COPY storage ./storage
COPY handlers ./handlers
COPY bot ./bot
RUN pip install --no-deps --no-build-isolation -e . \
    && python -m compileall -q bot handlers storage \
    && triage --help > /dev/null

USER 10001:10001
WORKDIR /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["triage"]
CMD ["serve"]
