{{/* Names, labels and the checks values.schema.json cannot express. */}}

{{- define "fixpoint.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fixpoint.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fixpoint.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "fixpoint.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fixpoint.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "fixpoint.labels" -}}
helm.sh/chart: {{ include "fixpoint.chart" . }}
{{ include "fixpoint.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: fixpoint
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "fixpoint.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fixpoint.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "fixpoint.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Where things are mounted in the container. */}}
{{- define "fixpoint.dataDir" -}}/var/lib/fixpoint{{- end -}}
{{- define "fixpoint.stagingDir" -}}/var/lib/fixpoint/staging{{- end -}}
{{- define "fixpoint.policyDir" -}}/etc/fixpoint/policy{{- end -}}
{{- define "fixpoint.secretsDir" -}}/etc/fixpoint/secrets{{- end -}}
{{- define "fixpoint.gitFilesDir" -}}/etc/fixpoint/git{{- end -}}

{{/* The claim staged files live on: "" when they stay on the data volume. */}}
{{- define "fixpoint.stagingClaim" -}}
{{- if .Values.staging.persistence.existingClaim -}}
{{- .Values.staging.persistence.existingClaim -}}
{{- else if .Values.staging.persistence.enabled -}}
{{- printf "%s-staging" (include "fixpoint.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap of policy files: "" unless policy.source is configMap. */}}
{{- define "fixpoint.policyConfigMap" -}}
{{- if eq .Values.policy.source "configMap" -}}
{{- default (printf "%s-policy" (include "fixpoint.fullname" .)) .Values.policy.configMap.name -}}
{{- end -}}
{{- end -}}

{{/* Whether the chart's ConfigMap carries git files (known_hosts, allowed_signers). */}}
{{- define "fixpoint.hasGitFiles" -}}
{{- if and (eq .Values.policy.source "git") (or .Values.policy.git.ssh.knownHosts .Values.policy.git.allowedSigners) -}}true{{- end -}}
{{- end -}}

{{/* A storageClassName line: none for "" (the default class), "" for "-". */}}
{{- define "fixpoint.storageClass" -}}
{{- if eq . "-" -}}
storageClassName: ""
{{- else if . -}}
storageClassName: {{ . | quote }}
{{- end -}}
{{- end -}}

{{/*
Settings that depend on each other. Each failure names the values to change.
*/}}
{{- define "fixpoint.validate" -}}
{{- $v := .Values -}}
{{- if and (eq $v.database.mode "sqlite") (gt (int $v.replicas) 1) -}}
{{- fail (printf "fixpoint: SQLite mode (database.mode=sqlite) runs exactly one replica, but replicas is %d: SQLite is a file on one volume that only one server may write. For several replicas set database.mode=postgresql with database.postgresql.urlSecret and a shared staging volume." (int $v.replicas)) -}}
{{- end -}}
{{- if eq $v.database.mode "postgresql" -}}
{{- if not $v.database.postgresql.urlSecret.name -}}
{{- fail "fixpoint: PostgreSQL mode (database.mode=postgresql) needs database.postgresql.urlSecret.name: an existing Secret whose key holds the postgres:// URL." -}}
{{- end -}}
{{- if not (include "fixpoint.stagingClaim" .) -}}
{{- fail "fixpoint: PostgreSQL mode needs a staging volume every replica shares: set staging.persistence.enabled=true (the chart creates a ReadWriteMany claim) or staging.persistence.existingClaim." -}}
{{- end -}}
{{- end -}}
{{- if eq $v.policy.source "git" -}}
{{- $git := $v.policy.git -}}
{{- if not $git.url -}}
{{- fail "fixpoint: policy.source=git needs policy.git.url (or set policy.source=configMap)." -}}
{{- end -}}
{{- if and $git.token.secret.name $git.ssh.keySecret.name -}}
{{- fail "fixpoint: set one git credential: policy.git.token.secret (HTTPS) or policy.git.ssh.keySecret (SSH), not both." -}}
{{- end -}}
{{- if and $git.ssh.knownHosts $git.ssh.knownHostsSecret.name -}}
{{- fail "fixpoint: give the SSH host keys once: policy.git.ssh.knownHosts or policy.git.ssh.knownHostsSecret, not both." -}}
{{- end -}}
{{- if and $git.ssh.keySecret.name (not (or $git.ssh.knownHosts $git.ssh.knownHostsSecret.name)) -}}
{{- fail "fixpoint: policy.git.ssh.keySecret needs the server's host keys: policy.git.ssh.knownHosts (known_hosts lines) or policy.git.ssh.knownHostsSecret." -}}
{{- end -}}
{{- if and (not $git.ssh.keySecret.name) (or $git.ssh.knownHosts $git.ssh.knownHostsSecret.name $git.ssh.passphraseSecret.name) -}}
{{- fail "fixpoint: policy.git.ssh.knownHosts, knownHostsSecret and passphraseSecret are for an SSH key: set policy.git.ssh.keySecret too." -}}
{{- end -}}
{{- if and $git.token.username (not $git.token.secret.name) -}}
{{- fail "fixpoint: policy.git.token.username is sent with a token: set policy.git.token.secret too." -}}
{{- end -}}
{{- end -}}
{{- if and $v.policy.configMap.name $v.policy.configMap.files -}}
{{- fail "fixpoint: policy.configMap.name (an existing ConfigMap) and policy.configMap.files (one the chart makes) exclude each other." -}}
{{- end -}}
{{- $basic := $v.console.basicAuth -}}
{{- if and $basic.user (not $basic.passwordSecret.name) -}}
{{- fail "fixpoint: console.basicAuth.user needs console.basicAuth.passwordSecret.name." -}}
{{- end -}}
{{- if and $basic.passwordSecret.name (not $basic.user) -}}
{{- fail "fixpoint: console.basicAuth.passwordSecret needs console.basicAuth.user." -}}
{{- end -}}
{{- $trusted := $v.console.trustedHeader -}}
{{- if and $trusted.userHeader (not (or $trusted.allowUsers $trusted.allowGroups)) -}}
{{- fail "fixpoint: console.trustedHeader.userHeader needs an allow-list: console.trustedHeader.allowUsers or allowGroups." -}}
{{- end -}}
{{- if and (not $trusted.userHeader) (or $trusted.groupsHeader $trusted.allowUsers $trusted.allowGroups) -}}
{{- fail "fixpoint: console.trustedHeader.groupsHeader, allowUsers and allowGroups need console.trustedHeader.userHeader." -}}
{{- end -}}
{{- end -}}

{{/* The server's settings as environment variables (the chart's ConfigMap). */}}
{{- define "fixpoint.configData" -}}
{{- $v := .Values -}}
FIXPOINT_LISTEN: "0.0.0.0:8080"
FIXPOINT_DATA_DIR: {{ include "fixpoint.dataDir" . | quote }}
FIXPOINT_LOG_FORMAT: {{ $v.server.logFormat | quote }}
{{- with $v.server.logLevel }}
FIXPOINT_LOG: {{ . | quote }}
{{- end }}
{{- if eq $v.policy.source "git" }}
FIXPOINT_GIT_URL: {{ $v.policy.git.url | quote }}
FIXPOINT_GIT_BRANCH: {{ $v.policy.git.branch | quote }}
{{- with $v.policy.git.path }}
FIXPOINT_GIT_PATH: {{ . | quote }}
{{- end }}
{{- with $v.policy.git.token.username }}
FIXPOINT_GIT_USERNAME: {{ . | quote }}
{{- end }}
{{- else }}
FIXPOINT_POLICY_DIR: {{ include "fixpoint.policyDir" . | quote }}
{{- end }}
FIXPOINT_CATALOG_SYNC: {{ $v.server.catalogSync | quote }}
{{- with $v.server.reconcileInterval }}
FIXPOINT_RECONCILE_INTERVAL: {{ . | quote }}
{{- end }}
{{- with $v.server.maxAgentRequests }}
FIXPOINT_MAX_AGENT_REQUESTS: {{ . | int64 | toString | quote }}
{{- end }}
{{- with $v.staging.horizon }}
FIXPOINT_STAGING_HORIZON: {{ . | quote }}
{{- end }}
{{- with $v.staging.concurrency }}
FIXPOINT_STAGING_CONCURRENCY: {{ . | int64 | toString | quote }}
{{- end }}
{{- with $v.staging.bandwidth }}
FIXPOINT_STAGING_BANDWIDTH: {{ . | int64 | toString | quote }}
{{- end }}
{{- with $v.staging.retention }}
FIXPOINT_STAGING_RETENTION: {{ . | quote }}
{{- end }}
{{- with $v.console.basicAuth.user }}
FIXPOINT_CONSOLE_USER: {{ . | quote }}
{{- end }}
{{- with $v.console.trustedHeader }}
{{- with .userHeader }}
FIXPOINT_CONSOLE_AUTH_HEADER: {{ . | quote }}
{{- end }}
{{- with .groupsHeader }}
FIXPOINT_CONSOLE_GROUPS_HEADER: {{ . | quote }}
{{- end }}
{{- with .allowUsers }}
FIXPOINT_CONSOLE_ALLOW_USERS: {{ join "," . | quote }}
{{- end }}
{{- with .allowGroups }}
FIXPOINT_CONSOLE_ALLOW_GROUPS: {{ join "," . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The git files of the chart's ConfigMap. */}}
{{- define "fixpoint.gitFilesData" -}}
{{- with .Values.policy.git.ssh.knownHosts }}
known_hosts: |
  {{- . | trim | nindent 2 }}
{{- end }}
{{- with .Values.policy.git.allowedSigners }}
allowed_signers: |
  {{- . | trim | nindent 2 }}
{{- end }}
{{- end -}}
