# The parking-hub image: `parking-hub` (every role) and `sensors-sim`, with the seed city.
#   docker build -t parking-hub .
#   docker run --rm parking-hub parking-hub serve --role api
FROM python:3.11-slim-bookworm AS build
# A compiler for any dependency without a wheel for this platform. Not pinned: the base image's
# Debian release fixes the versions, and this stage is thrown away.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/parking-hub
WORKDIR /src
COPY pyproject.toml README.md ./
COPY parking_hub/ parking_hub/
COPY sensors_sim/ sensors_sim/
RUN /opt/parking-hub/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --user-group --no-create-home parking-hub
COPY --from=build /opt/parking-hub /opt/parking-hub
COPY seeds/ /opt/parking-hub/seeds/
ENV PATH=/opt/parking-hub/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PARKING_HUB_HTTP=0.0.0.0:8080 \
    PARKING_HUB_LOG_FORMAT=json
USER 10001:10001
EXPOSE 8080
# SIGTERM starts the hub's clean shutdown (at most 20 s); give it 30 s before the kill.
STOPSIGNAL SIGTERM
CMD ["parking-hub", "serve"]
