# gridsim image for the docker compose demo: the package, its roster and scenarios.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY grid ./grid
COPY nodes ./nodes
COPY scenarios ./scenarios
COPY broker ./broker
RUN pip install --no-cache-dir .
ENTRYPOINT ["gridsim"]
