FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY config ./config
COPY channels_app ./channels_app
COPY orders ./orders
COPY inventory ./inventory
COPY messaging ./messaging
COPY catalog_sync ./catalog_sync
COPY templates ./templates
COPY manage.py Procfile ./
# var/media is where compose mounts the media volume: made here, owned by hub, so that Docker gives
# a new volume this owner (a directory the image lacks would be made root's, and workers run as hub).
RUN pip install --no-cache-dir -c requirements.lock . && useradd --create-home hub \
    && mkdir -p var/media && chown -R hub var
USER hub
# Static files are collected at build time with throwaway secrets; whitenoise serves them.
RUN SECRET_KEY=build HUB_ENCRYPTION_KEYS=ZGV2LW9ubHktaW5zZWN1cmUta2V5LXBhZGRpbmctMDA= DEBUG=False \
    python manage.py collectstatic --noinput -v0
EXPOSE 8000
CMD ["gunicorn", "-c", "python:config.gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4"]
