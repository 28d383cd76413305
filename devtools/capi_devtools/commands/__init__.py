"""CLI commands of the dev tools, registered in the `spotify_capi_connector.commands` entry-point
group (devtools/pyproject.toml), so `spotify-capi-connector demo` works where they are installed.
"""
