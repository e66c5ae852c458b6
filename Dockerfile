# One image for the API, the worker and migrations.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY platform_service ./platform_service
RUN uv sync --frozen --no-dev
USER nobody
EXPOSE 8000
CMD ["platform-service", "serve", "--host", "0.0.0.0", "--port", "8000"]
