"""Developer tools of spotify-capi-connector: never part of the runtime wheel or the image.

    capi_devtools.sandbox      a local emulator of the Spotify Conversions API
    capi_devtools.localinfra   a real Kafka broker and Schema Registry from Maven jars
    capi_devtools.samples      realistic sample tracking events
    capi_devtools.commands     `demo` and `sandbox`, which the connector's CLI finds by entry point

This package may import `connector`; `connector` never imports this package.
"""
