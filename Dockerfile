FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY notification_actions ./notification_actions
RUN pip install --no-cache-dir .
ENV NOTIFICATION_ACTIONS_WEB_HOST=0.0.0.0 \
    NOTIFICATION_ACTIONS_DATA_DIR=/var/lib/notification-actions
VOLUME /var/lib/notification-actions
EXPOSE 6066
ENTRYPOINT ["notification-actions"]
CMD ["worker"]
