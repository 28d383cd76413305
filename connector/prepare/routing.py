"""Which Spotify connection an event goes to: by its input topic or by a property's value.

Pure: the rule is the `routing` settings; an event no route names goes to the default
connection, or nowhere (None: it is dead-lettered as `no_route`).
"""

from __future__ import annotations

from connector.config import RoutingSettings
from connector.models import Rejection, TrackingEvent

NO_ROUTE = "no_route"


class Router:
    def __init__(self, routing: RoutingSettings) -> None:
        self._property = routing.property if routing.by == "property" else None
        self._routes = dict(routing.routes)
        self._default = routing.default

    def route(self, topic: str, event: TrackingEvent) -> str | None:
        """The connection's name, or None when no route and no default takes the event."""
        property_key = None if self._property is None else _route_key(event, self._property)
        return self.route_by_key(topic, property_key)

    def route_by_key(self, topic: str, property_key: str | None) -> str | None:
        """`route` given the routing property's key (`_route_key`) instead of the event."""
        key = topic if self._property is None else property_key
        if key is not None:
            connection = self._routes.get(key)
            if connection is not None:
                return connection
        return self._default

    def no_route(self) -> Rejection:
        """Why an event went nowhere; names the property, never its value."""
        if self._property is None:
            return Rejection(NO_ROUTE, None, "no route for the input topic and no default route")
        return Rejection(
            NO_ROUTE, self._property, "no route for the property's value and no default route"
        )


def _route_key(event: TrackingEvent, name: str) -> str | None:
    value = event.properties.get(name)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int):
        return str(value)
    return None  # missing, a number with a fraction, a list: no route by value
