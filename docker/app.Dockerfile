# The hotline app: web console, AMI controller, FastAGI server and scheduler (`hotline serve`).
# Build from the repository root:  docker build -f docker/app.Dockerfile .
FROM python:3.11-slim-bookworm

# espeak-ng + sox: prompt audio (configure step); no downloads at run time.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng sox libsox-fmt-all \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ivr ./ivr
COPY hotline ./hotline
COPY dialplans ./dialplans
COPY routing_rules.yaml ./routing_rules.yaml
COPY docker/configure.py ./docker/configure.py
# editable install: the dialplan templates (dialplans/) and routing_rules.yaml stay next to the code;
# gcc only for the install (it compiles the AMI parser's C fast path, ivr/ami/_speedups.c)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev \
 && pip install --no-cache-dir -e . \
 && python -c "import ivr.ami._speedups" \
 && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/hotline --create-home hotline \
 && mkdir -p /build/dialplan /build/prompts \
 && chown hotline /build/dialplan /build/prompts

USER hotline
ENV HOTLINE_RULES_FILE=/app/routing_rules.yaml \
    PYTHONUNBUFFERED=1
EXPOSE 8000 4573
CMD ["hotline", "serve"]
