"""Everything that speaks to Kafka (and the Schema Registry) through confluent-kafka.

No module outside this package imports `confluent_kafka` (a ruff rule keeps it so): `source`
(records in), `results` (results and dead letters out), `admin` (the topic check and the ranges
the commands read), `registry` (schemas by id, one retry policy) and `client` (the configuration
every client starts from, built once).
"""
