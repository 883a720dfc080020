# A local stand-in for eclipse-mosquitto:2, for machines that cannot pull from an image registry:
# Debian bookworm's Mosquitto 2.0.11, laid out like the official image (/mosquitto/{config,data,log}).
FROM local/debian:bookworm
LABEL org.gridsim.standin="eclipse-mosquitto:2, built by scripts/compose-test from Debian bookworm"
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto mosquitto-clients >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /mosquitto/config /mosquitto/data /mosquitto/log \
 && cp /etc/mosquitto/mosquitto.conf /mosquitto/config/mosquitto.conf \
 && chown -R mosquitto:mosquitto /mosquitto
EXPOSE 1883
# Started as root, Mosquitto drops to the mosquitto user, as the official image does.
CMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]
