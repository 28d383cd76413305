{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "connector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, unless the release name already holds the chart name. */}}
{{- define "connector.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "connector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "connector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "connector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "connector.labels" -}}
helm.sh/chart: {{ include "connector.chart" . }}
{{ include "connector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: connector
{{- end }}

{{- define "connector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "connector.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "connector.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The connector's container, as the Deployment names it (kube-state-metrics' `container`). */}}
{{- define "connector.containerName" -}}connector{{- end }}

{{/* Where the pod finds its files. */}}
{{- define "connector.configDir" -}}/etc/spotify-capi-connector{{- end }}
{{- define "connector.secretsDir" -}}/etc/spotify-capi-connector/secrets{{- end }}
{{- define "connector.tlsDir" -}}/etc/spotify-capi-connector/kafka-tls{{- end }}

{{/* The connector's defaults for the values the chart itself reads (see connector/config.py). */}}
{{- define "connector.setting" -}}
{{- $section := index .root.Values.config .section | default dict }}
{{- $defaults := dict
  "kafka.bootstrap_servers" "127.0.0.1:9092"
  "kafka.input_topic" "tracking-events"
  "kafka.group_id" "spotify-capi-connector"
  "kafka.dlq_topic" "spotify-capi-dlq"
  "kafka.auto_offset_reset" "earliest"
  "kafka.security_protocol" "PLAINTEXT"
  "pipeline.drain_timeout_s" 30
  "telemetry.health_port" 8080
}}
{{- if hasKey $section .field }}
{{- index $section .field }}
{{- else }}
{{- index $defaults (printf "%s.%s" .section .field) }}
{{- end }}
{{- end }}

{{- define "connector.healthPort" -}}
{{- include "connector.setting" (dict "root" . "section" "telemetry" "field" "health_port") | int }}
{{- end }}

{{/* Longer than the drain timeout, so that SIGKILL never cuts a drain short. */}}
{{- define "connector.terminationGracePeriod" -}}
{{- $drain := include "connector.setting" (dict "root" . "section" "pipeline" "field" "drain_timeout_s") | float64 }}
{{- add (ceil $drain | int) .Values.terminationGraceExtraSeconds }}
{{- end }}

{{/*
The secret values the pod reads, as a list of dicts: env (the connector's variable, passed as
<env>_FILE pointing at the mounted key) and key (in the Secret).
*/}}
{{- define "connector.secretRefs" -}}
{{- $specs := list
  (dict "value" "spotifyToken" "env" "SPOTIFY_CAPI_TOKEN" "key" "spotify-capi-token")
  (dict "value" "spotifyConnectionId" "env" "SPOTIFY_CAPI_CONNECTION_ID" "key" "spotify-capi-connection-id")
  (dict "value" "kafkaSaslPassword" "env" "KAFKA_SASL_PASSWORD" "key" "kafka-sasl-password")
  (dict "value" "kafkaSslKeyPassword" "env" "KAFKA_SSL_KEY_PASSWORD" "key" "kafka-ssl-key-password")
  (dict "value" "schemaRegistryBasicAuth" "env" "SCHEMA_REGISTRY_BASIC_AUTH" "key" "schema-registry-basic-auth")
  (dict "value" "spotifyAdsClientSecret" "env" "SPOTIFY_ADS_CLIENT_SECRET" "key" "spotify-ads-client-secret")
  (dict "value" "spotifyAdsRefreshToken" "env" "SPOTIFY_ADS_REFRESH_TOKEN" "key" "spotify-ads-refresh-token")
}}
{{- $refs := list }}
{{- $existing := .Values.secrets.existingSecret.name }}
{{- range $specs }}
{{- if $existing }}
{{- $key := index $.Values.secrets.existingSecret.keys .value }}
{{- if $key }}
{{- $refs = append $refs (dict "env" .env "key" $key "value" .value) }}
{{- end }}
{{- else if index $.Values.secrets .value }}
{{- $refs = append $refs (dict "env" .env "key" .key "value" .value) }}
{{- end }}
{{- end }}
{{- /* Named Spotify connections: SPOTIFY_CAPI_<NAME>_TOKEN_FILE and _CONNECTION_ID_FILE. */}}
{{- $fields := dict "token" "TOKEN" "connection_id" "CONNECTION_ID" }}
{{- if $existing }}
{{- range $name, $keys := ($.Values.secrets.existingSecret.keys.spotifyConnections | default dict) }}
{{- range $field, $env := $fields }}
{{- $key := index $keys $field }}
{{- if $key }}
{{- $refs = append $refs (dict "env" (printf "SPOTIFY_CAPI_%s_%s" (upper $name) $env) "key" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- else }}
{{- range $name, $secrets := ($.Values.secrets.spotifyConnections | default dict) }}
{{- range $field, $env := $fields }}
{{- $text := index $secrets $field }}
{{- if $text }}
{{- $key := printf "spotify-capi-%s-%s" $name ($env | lower | replace "_" "-") }}
{{- $refs = append $refs (dict "env" (printf "SPOTIFY_CAPI_%s_%s" (upper $name) $env) "key" $key "secret" $text) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $refs }}
{{- end }}

{{- define "connector.secretName" -}}
{{- default (include "connector.fullname" .) .Values.secrets.existingSecret.name }}
{{- end }}

{{/* config.yaml: the values' config tree, plus the paths of the mounted Kafka TLS files. */}}
{{- define "connector.configYaml" -}}
{{- $config := deepCopy .Values.config }}
{{- if .Values.kafkaTls.enabled }}
{{- $kafka := get $config "kafka" | default dict }}
{{- $tls := include "connector.tlsDir" . }}
{{- range list (list "caKey" "ssl_ca_location") (list "certKey" "ssl_certificate_location") (list "keyKey" "ssl_key_location") }}
{{- $key := index $.Values.kafkaTls (first .) }}
{{- if and $key (not (index $kafka (last .))) }}
{{- $_ := set $kafka (last .) (printf "%s/%s" $tls $key) }}
{{- end }}
{{- end }}
{{- $_ := set $config "kafka" $kafka }}
{{- end }}
{{- $rate := .Values.rateLimit | default dict }}
{{- $pods := include "connector.maxPods" . | float64 }}
{{- if $rate.totalRequestsPerSecond }}
{{- $sink := get $config "sink" | default dict }}
{{- $_ := set $sink "max_requests_per_second" (include "connector.podShare" (list $rate.totalRequestsPerSecond $pods) | float64) }}
{{- $_ := set $config "sink" $sink }}
{{- end }}
{{- if $rate.connections }}
{{- $spotify := get $config "spotify" | default dict }}
{{- $connections := get $spotify "connections" | default dict }}
{{- range $name, $total := $rate.connections }}
{{- $_ := set $connections $name (dict "max_requests_per_second" (include "connector.podShare" (list $total $pods) | float64)) }}
{{- end }}
{{- $_ := set $spotify "connections" $connections }}
{{- $_ := set $config "spotify" $spotify }}
{{- end }}
{{- $ads := include "connector.adsApiSettings" . | fromYaml }}
{{- if $ads }}
{{- /* The schema keeps these fields out of config.ads_api: no key is set twice. */}}
{{- $_ := set $config "ads_api" (mergeOverwrite (get $config "ads_api" | default dict) $ads) }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* config.yaml's ads_api fields that come from adsApi and reconcile (none by default). */}}
{{- define "connector.adsApiSettings" -}}
{{- $a := .Values.adsApi }}
{{- $r := .Values.reconcile }}
{{- $ads := dict }}
{{- range $value, $field := dict "clientId" "client_id" "businessId" "business_id" "datasetId" "dataset_id" }}
{{- with index $a $value }}
{{- $_ := set $ads $field . }}
{{- end }}
{{- end }}
{{- $connections := dict }}
{{- range $name, $c := ($a.connections | default dict) }}
{{- $own := dict }}
{{- with $c.datasetId }}{{ $_ := set $own "dataset_id" . }}{{ end }}
{{- with $c.businessId }}{{ $_ := set $own "business_id" . }}{{ end }}
{{- $_ := set $connections $name $own }}
{{- end }}
{{- with $connections }}
{{- $_ := set $ads "connections" . }}
{{- end }}
{{- if or $ads .Values.config.ads_api $r.enabled }}
{{- /* The Ads API is in use: `reconcile` in a pod waits as long as the periodic one. */}}
{{- $_ := set $ads "processing_delay_s" $r.processingDelaySeconds }}
{{- end }}
{{- if $r.enabled }}
{{- $_ := set $ads "reconcile_interval_s" $r.intervalSeconds }}
{{- $_ := set $ads "reconcile_window_h" $r.windowHours }}
{{- end }}
{{- with $ads }}{{ toYaml . }}{{ end }}
{{- end }}

{{/*
The Spotify connections the chart knows of (secrets or the existing Secret's keys), as JSON:
`default` when the connector would have it (connector/config.py, spotify_connections: set,
routed to, or the only one), then the named ones.
*/}}
{{- define "connector.connectionNames" -}}
{{- $s := .Values.secrets }}
{{- $existing := $s.existingSecret.name }}
{{- $named := keys (ternary ($s.existingSecret.keys.spotifyConnections | default dict) ($s.spotifyConnections | default dict) (not (empty $existing))) | sortAlpha }}
{{- $defaultSet := ternary (or $s.existingSecret.keys.spotifyToken $s.existingSecret.keys.spotifyConnectionId) (or $s.spotifyToken $s.spotifyConnectionId) (not (empty $existing)) }}
{{- $routing := .Values.config.routing | default dict }}
{{- $routed := values ($routing.routes | default dict) }}
{{- $routed = append $routed (ternary $routing.default "default" (hasKey $routing "default")) }}
{{- if or (not $named) $defaultSet (has "default" $routed) }}
{{- $named = prepend $named "default" }}
{{- end }}
{{- toJson $named }}
{{- end }}

{{/* reconcile.enabled needs the Ads API account: the settings it lacks, for `fail`. */}}
{{- define "connector.reconcileMissing" -}}
{{- $a := .Values.adsApi }}
{{- $s := .Values.secrets }}
{{- $existing := $s.existingSecret.name }}
{{- $missing := list }}
{{- if not $a.clientId }}
{{- $missing = append $missing "adsApi.clientId" }}
{{- end }}
{{- range list "spotifyAdsClientSecret" "spotifyAdsRefreshToken" }}
{{- if $existing }}
{{- if not (index $s.existingSecret.keys .) }}
{{- $missing = append $missing (printf "secrets.existingSecret.keys.%s (its key in Secret %s)" . $existing) }}
{{- end }}
{{- else if not (index $s .) }}
{{- $missing = append $missing (printf "secrets.%s (or secrets.existingSecret)" .) }}
{{- end }}
{{- end }}
{{- range include "connector.connectionNames" . | fromJsonArray }}
{{- if eq . "default" }}
{{- if not $a.datasetId }}
{{- $missing = append $missing "adsApi.datasetId (the dataset of connection default)" }}
{{- end }}
{{- if not $a.businessId }}
{{- $missing = append $missing "adsApi.businessId" }}
{{- end }}
{{- else }}
{{- $own := index ($a.connections | default dict) . | default dict }}
{{- if not $own.datasetId }}
{{- $missing = append $missing (printf "adsApi.connections.%s.datasetId" .) }}
{{- end }}
{{- if not (or $own.businessId $a.businessId) }}
{{- $missing = append $missing (printf "adsApi.connections.%s.businessId (or adsApi.businessId)" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- $missing | uniq | join ", " }}
{{- end }}

{{/* The most pods that can run at once: a release-wide rate is divided by it, so their sum
never exceeds it (with fewer pods running, the release sends less). */}}
{{- define "connector.maxPods" -}}
{{- if .Values.keda.enabled }}{{ max 1 (int .Values.keda.maxReplicas) }}
{{- else if .Values.autoscaling.enabled }}{{ max 1 (int .Values.autoscaling.maxReplicas) }}
{{- else }}{{ max 1 (int .Values.replicaCount) }}{{ end }}
{{- end }}

{{/* One pod's share of a release-wide rate (list total pods), to a thousandth, never 0. */}}
{{- define "connector.podShare" -}}
{{- maxf 0.001 (round (divf (index . 0) (index . 1)) 3) }}
{{- end }}

{{/* Settings combinations that cannot work, refused at render time with a clear message. */}}
{{- define "connector.validate" -}}
{{- if and .Values.autoscaling.enabled .Values.keda.enabled }}
{{- fail "autoscaling.enabled and keda.enabled are mutually exclusive: KEDA creates its own HorizontalPodAutoscaler. Enable only one." }}
{{- end }}
{{- $s := .Values.secrets }}
{{- if and $s.existingSecret.name (or $s.spotifyToken $s.spotifyConnectionId $s.kafkaSaslPassword $s.kafkaSslKeyPassword $s.schemaRegistryBasicAuth $s.spotifyAdsClientSecret $s.spotifyAdsRefreshToken $s.spotifyConnections) }}
{{- fail "secrets.existingSecret.name is set: leave the inline secrets.* values empty (the chart would ignore them)." }}
{{- end }}
{{- if .Values.kafkaTls.enabled }}
{{- if not .Values.kafkaTls.secretName }}
{{- fail "kafkaTls.enabled needs kafkaTls.secretName (the Secret holding the PEM files)." }}
{{- end }}
{{- $protocol := include "connector.setting" (dict "root" . "section" "kafka" "field" "security_protocol") }}
{{- if not (has $protocol (list "SSL" "SASL_SSL")) }}
{{- fail (printf "kafkaTls.enabled needs config.kafka.security_protocol SSL or SASL_SSL, not %s." $protocol) }}
{{- end }}
{{- end }}
{{- $sinkRate := index (.Values.config.sink | default dict) "max_requests_per_second" }}
{{- if and (.Values.rateLimit | default dict).totalRequestsPerSecond $sinkRate }}
{{- fail "rateLimit.totalRequestsPerSecond (for the release) and config.sink.max_requests_per_second (per pod) are both set: set one." }}
{{- end }}
{{- if .Values.reconcile.enabled }}
{{- with include "connector.reconcileMissing" . }}
{{- fail (printf "reconcile.enabled needs Spotify's Ads API account, which reads the dataset diagnostics; set %s." .) }}
{{- end }}
{{- end }}
{{- if and .Values.keda.enabled (gt (int .Values.keda.minReplicas) (int .Values.keda.maxReplicas)) }}
{{- fail "keda.minReplicas is greater than keda.maxReplicas." }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas is greater than autoscaling.maxReplicas." }}
{{- end }}
{{- end }}

{{/*
The connector container's env, volumeMounts and the pod's volumes: shared by the Deployment and
the `helm test` pod, which must see exactly the same config and secrets.
*/}}
{{- define "connector.env" -}}
{{- $refs := include "connector.secretRefs" . | fromJsonArray }}
{{- if or $refs .Values.extraEnv }}
env:
  {{- range $refs }}
  - name: {{ .env }}_FILE
    value: {{ include "connector.secretsDir" $ }}/{{ .key }}
  {{- end }}
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end }}

{{- define "connector.volumeMounts" -}}
{{- $refs := include "connector.secretRefs" . | fromJsonArray }}
volumeMounts:
  - name: config
    mountPath: {{ include "connector.configDir" . }}/config.yaml
    subPath: config.yaml
    readOnly: true
  {{- if $refs }}
  - name: secrets
    mountPath: {{ include "connector.secretsDir" . }}
    readOnly: true
  {{- end }}
  {{- if .Values.kafkaTls.enabled }}
  - name: kafka-tls
    mountPath: {{ include "connector.tlsDir" . }}
    readOnly: true
  {{- end }}
  - name: tmp
    mountPath: /tmp
  {{- with .Values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{- define "connector.volumes" -}}
{{- $refs := include "connector.secretRefs" . | fromJsonArray }}
volumes:
  - name: config
    configMap:
      name: {{ include "connector.fullname" . }}
  {{- if $refs }}
  - name: secrets
    secret:
      secretName: {{ include "connector.secretName" . }}
      defaultMode: 0400
      items:
        {{- range $refs }}
        - key: {{ .key }}
          path: {{ .key }}
        {{- end }}
  {{- end }}
  {{- if .Values.kafkaTls.enabled }}
  - name: kafka-tls
    secret:
      secretName: {{ .Values.kafkaTls.secretName }}
      defaultMode: 0400
      items:
        {{- range list .Values.kafkaTls.caKey .Values.kafkaTls.certKey .Values.kafkaTls.keyKey | compact }}
        - key: {{ . }}
          path: {{ . }}
        {{- end }}
  {{- end }}
  - name: tmp
    emptyDir:
      medium: Memory
      sizeLimit: {{ .Values.tmpSizeLimit }}
  {{- with .Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* The NetworkPolicy's egress rules, shared by the connector's pods and the backfill Job's. */}}
{{- define "connector.networkEgress" -}}
# DNS
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
# Kafka brokers
- ports:
    {{- range .Values.networkPolicy.kafka.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with .Values.networkPolicy.kafka.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# Spotify Conversions API (HTTPS)
- ports:
    - port: 443
      protocol: TCP
  to:
    {{- range .Values.networkPolicy.spotify.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
{{- with .Values.networkPolicy.extraEgress }}
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end }}
