"""Open311 GeoReport v2 server (``/open311/v2/``): discovery, services, requests.

See ``docs/api.md`` for the mapping of our tickets onto the specification.
"""
