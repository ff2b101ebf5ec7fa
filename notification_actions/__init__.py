"""Notification Actions: product events on Kafka → notifications on third-party services.

The data's path is the package's shape: events come in through ``streams/``,
meet the actions held in ``tables/``, become deliveries, and leave through a
service in ``registrations/``.
"""

__version__ = "0.1.0"
