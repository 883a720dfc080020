# A local stand-in for python:3.11-slim, for machines that cannot pull from an image registry:
# Debian bookworm's Python 3.11 on a debootstrapped bookworm (local/debian:bookworm).
# scripts/compose-test builds it only when the real image can be neither found nor pulled.
FROM local/debian:bookworm
LABEL org.gridsim.standin="python:3.11-slim, built by scripts/compose-test from Debian bookworm"
# The host's CA bundle: package registries may be reachable only through the host's TLS proxy.
COPY host-ca.crt /etc/ssl/certs/host-ca.crt
ENV PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_BREAK_SYSTEM_PACKAGES=1 LANG=C.UTF-8
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv python-is-python3 >/dev/null \
 && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
