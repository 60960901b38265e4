# driftbot's GitHub Action image. GitHub builds it from action.yml (`runs.image: Dockerfile`)
# with the default base; tests and air-gapped builds pass another Debian-based Python image:
#   docker build --build-arg BASE_IMAGE=python:3.12-slim-bookworm .
ARG BASE_IMAGE=python:3.12-slim-bookworm
FROM ${BASE_IMAGE}

# PostgreSQL server binaries from the distribution (bookworm: 15) for the `local` provider,
# without the cluster the package would create; git for projects whose install needs it.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/driftbot.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql git \
 && rm -rf /var/lib/apt/lists/* \
 && git config --system --add safe.directory '*' \
 && groupadd --gid 48771 driftbot \
 && useradd --uid 48771 --gid 48771 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin driftbot

# A fixed uid that no host account is likely to have: the worker kills every process of its uid
# after each command, and the host's PID namespace sees (and a kill by uid reaches) the
# container's processes; a first system uid (999) here was also the host's driftbot worker's.

# driftbot in its own virtualenv with the PostgreSQL drivers projects use (the `drivers` extra),
# dependencies first (their layer survives code changes).
# The worker (PR code, as the `driftbot` user) can read this venv, never write it.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/driftbot
COPY pyproject.toml /app/
RUN /opt/driftbot/bin/python -c "import tomllib; p = tomllib.load(open('/app/pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['drivers']))" > /tmp/requirements.txt \
 && /opt/driftbot/bin/pip install -q -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt
COPY README.md entrypoint.py /app/
COPY driftbot /app/driftbot
RUN /opt/driftbot/bin/pip install -q --no-deps /app \
 && /opt/driftbot/bin/driftbot --version

# Container actions run as root (no USER): the workspace belongs to the runner's user. The
# worker drops to `driftbot` itself. GitHub mounts the workspace and sets the working directory.
ENTRYPOINT ["/opt/driftbot/bin/python", "/app/entrypoint.py"]
