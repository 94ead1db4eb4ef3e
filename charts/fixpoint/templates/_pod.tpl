{{/*
The server's pod, shared by the Deployment (PostgreSQL mode) and the
StatefulSet (SQLite mode). Secrets are mounted as files (whole directories, not
subPath, so a rotated Secret reaches the pod) and named by FIXPOINT_*_FILE.
*/}}

{{/* A volume of one key of a Secret, as the file `path`. */}}
{{- define "fixpoint.secretVolume" -}}
- name: {{ .volume }}
  secret:
    secretName: {{ .ref.name | quote }}
    defaultMode: 288 # 0440: the group (fsGroup) reads it, nobody writes it
    items:
      - key: {{ .ref.key | quote }}
        path: {{ .path | quote }}
{{- end -}}

{{/* The container's own environment: database URL, secret file paths, extraEnv. */}}
{{- define "fixpoint.env" -}}
{{- $v := .Values -}}
{{- $secrets := include "fixpoint.secretsDir" . -}}
{{- $git := $v.policy.git -}}
{{- $useGit := eq $v.policy.source "git" -}}
{{- if eq $v.database.mode "postgresql" }}
- name: FIXPOINT_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.postgresql.urlSecret.name | quote }}
      key: {{ $v.database.postgresql.urlSecret.key | quote }}
{{- end }}
{{- if $v.enrollment.tokenSecret.name }}
- name: FIXPOINT_ENROLLMENT_TOKEN_FILE
  value: {{ printf "%s/enrollment/token" $secrets }}
{{- end }}
{{- if $v.webhook.secret.name }}
- name: FIXPOINT_WEBHOOK_SECRET_FILE
  value: {{ printf "%s/webhook/secret" $secrets }}
{{- end }}
{{- if $v.console.tokenSecret.name }}
- name: FIXPOINT_CONSOLE_TOKEN_FILE
  value: {{ printf "%s/console-token/token" $secrets }}
{{- end }}
{{- if $v.console.basicAuth.passwordSecret.name }}
- name: FIXPOINT_CONSOLE_PASSWORD_FILE
  value: {{ printf "%s/console-password/password" $secrets }}
{{- end }}
{{- if $useGit }}
{{- if $git.token.secret.name }}
- name: FIXPOINT_GIT_TOKEN_FILE
  value: {{ printf "%s/git-token/token" $secrets }}
{{- end }}
{{- if $git.ssh.keySecret.name }}
- name: FIXPOINT_GIT_SSH_KEY
  value: {{ printf "%s/git-ssh-key/identity" $secrets }}
{{- end }}
{{- if $git.ssh.passphraseSecret.name }}
- name: FIXPOINT_GIT_SSH_KEY_PASSPHRASE
  valueFrom:
    secretKeyRef:
      name: {{ $git.ssh.passphraseSecret.name | quote }}
      key: {{ $git.ssh.passphraseSecret.key | quote }}
{{- end }}
{{- if $git.ssh.knownHosts }}
- name: FIXPOINT_GIT_KNOWN_HOSTS
  value: {{ printf "%s/known_hosts" (include "fixpoint.gitFilesDir" .) }}
{{- else if $git.ssh.knownHostsSecret.name }}
- name: FIXPOINT_GIT_KNOWN_HOSTS
  value: {{ printf "%s/git-known-hosts/known_hosts" $secrets }}
{{- end }}
{{- if $git.allowedSigners }}
- name: FIXPOINT_GIT_ALLOWED_SIGNERS
  value: {{ printf "%s/allowed_signers" (include "fixpoint.gitFilesDir" .) }}
{{- end }}
{{- end }}
{{- if $v.tls.secretName }}
- name: FIXPOINT_TLS_CERT
  value: /etc/fixpoint/tls/tls.crt
- name: FIXPOINT_TLS_KEY
  value: /etc/fixpoint/tls/tls.key
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "fixpoint.podTemplate" -}}
{{- $v := .Values -}}
{{- $secrets := include "fixpoint.secretsDir" . -}}
{{- $git := $v.policy.git -}}
{{- $useGit := eq $v.policy.source "git" -}}
{{- $scheme := ternary "HTTPS" "HTTP" (ne $v.tls.secretName "") -}}
metadata:
  labels:
    {{- include "fixpoint.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: server
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A changed setting rolls the pods (policy files are re-read without one).
    checksum/config: {{ printf "%s\n%s" (include "fixpoint.configData" .) (include "fixpoint.gitFilesData" .) | sha256sum }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "fixpoint.serviceAccountName" . }}
  # The server never calls the Kubernetes API.
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  containers:
    - name: fixpoint
      image: {{ include "fixpoint.image" . | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      command:
        {{- toYaml $v.image.command | nindent 8 }}
      args:
        - serve
        {{- with $v.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: http
          containerPort: 8080
          protocol: TCP
      envFrom:
        - configMapRef:
            name: {{ include "fixpoint.fullname" . }}
      {{- with include "fixpoint.env" . | trim }}
      env:
        {{- . | nindent 8 }}
      {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
          scheme: {{ $scheme }}
        periodSeconds: {{ $v.probes.startup.periodSeconds }}
        timeoutSeconds: {{ $v.probes.startup.timeoutSeconds }}
        failureThreshold: {{ $v.probes.startup.failureThreshold }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
          scheme: {{ $scheme }}
        {{- with $v.probes.liveness }}
        initialDelaySeconds: {{ .initialDelaySeconds }}
        periodSeconds: {{ .periodSeconds }}
        timeoutSeconds: {{ .timeoutSeconds }}
        failureThreshold: {{ .failureThreshold }}
        {{- end }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
          scheme: {{ $scheme }}
        {{- with $v.probes.readiness }}
        initialDelaySeconds: {{ .initialDelaySeconds }}
        periodSeconds: {{ .periodSeconds }}
        timeoutSeconds: {{ .timeoutSeconds }}
        failureThreshold: {{ .failureThreshold }}
        {{- end }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: {{ include "fixpoint.dataDir" . }}
        {{- if include "fixpoint.stagingClaim" . }}
        - name: staging
          mountPath: {{ include "fixpoint.stagingDir" . }}
        {{- end }}
        - name: tmp
          mountPath: /tmp
        {{- if include "fixpoint.policyConfigMap" . }}
        - name: policy
          mountPath: {{ include "fixpoint.policyDir" . }}
          readOnly: true
        {{- end }}
        {{- if include "fixpoint.hasGitFiles" . }}
        - name: git-files
          mountPath: {{ include "fixpoint.gitFilesDir" . }}
          readOnly: true
        {{- end }}
        {{- if $v.enrollment.tokenSecret.name }}
        - name: enrollment-token
          mountPath: {{ printf "%s/enrollment" $secrets }}
          readOnly: true
        {{- end }}
        {{- if $v.webhook.secret.name }}
        - name: webhook-secret
          mountPath: {{ printf "%s/webhook" $secrets }}
          readOnly: true
        {{- end }}
        {{- if $v.console.tokenSecret.name }}
        - name: console-token
          mountPath: {{ printf "%s/console-token" $secrets }}
          readOnly: true
        {{- end }}
        {{- if $v.console.basicAuth.passwordSecret.name }}
        - name: console-password
          mountPath: {{ printf "%s/console-password" $secrets }}
          readOnly: true
        {{- end }}
        {{- if $useGit }}
        {{- if $git.token.secret.name }}
        - name: git-token
          mountPath: {{ printf "%s/git-token" $secrets }}
          readOnly: true
        {{- end }}
        {{- if $git.ssh.keySecret.name }}
        - name: git-ssh-key
          mountPath: {{ printf "%s/git-ssh-key" $secrets }}
          readOnly: true
        {{- end }}
        {{- if and $git.ssh.knownHostsSecret.name (not $git.ssh.knownHosts) }}
        - name: git-known-hosts
          mountPath: {{ printf "%s/git-known-hosts" $secrets }}
          readOnly: true
        {{- end }}
        {{- end }}
        {{- if $v.tls.secretName }}
        - name: tls
          mountPath: /etc/fixpoint/tls
          readOnly: true
        {{- end }}
  volumes:
    {{- if eq $v.database.mode "postgresql" }}
    # The policy mirror of a followed repository; the database is PostgreSQL.
    - name: data
      emptyDir:
        sizeLimit: {{ $v.database.postgresql.dataDirSizeLimit }}
    {{- end }}
    {{- with include "fixpoint.stagingClaim" . }}
    - name: staging
      persistentVolumeClaim:
        claimName: {{ . }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 256Mi
    {{- with include "fixpoint.policyConfigMap" . }}
    - name: policy
      configMap:
        name: {{ . }}
    {{- end }}
    {{- if include "fixpoint.hasGitFiles" . }}
    - name: git-files
      configMap:
        name: {{ printf "%s-git" (include "fixpoint.fullname" .) }}
    {{- end }}
    {{- if $v.enrollment.tokenSecret.name }}
    {{- include "fixpoint.secretVolume" (dict "volume" "enrollment-token" "ref" $v.enrollment.tokenSecret "path" "token") | nindent 4 }}
    {{- end }}
    {{- if $v.webhook.secret.name }}
    {{- include "fixpoint.secretVolume" (dict "volume" "webhook-secret" "ref" $v.webhook.secret "path" "secret") | nindent 4 }}
    {{- end }}
    {{- if $v.console.tokenSecret.name }}
    {{- include "fixpoint.secretVolume" (dict "volume" "console-token" "ref" $v.console.tokenSecret "path" "token") | nindent 4 }}
    {{- end }}
    {{- if $v.console.basicAuth.passwordSecret.name }}
    {{- include "fixpoint.secretVolume" (dict "volume" "console-password" "ref" $v.console.basicAuth.passwordSecret "path" "password") | nindent 4 }}
    {{- end }}
    {{- if $useGit }}
    {{- if $git.token.secret.name }}
    {{- include "fixpoint.secretVolume" (dict "volume" "git-token" "ref" $git.token.secret "path" "token") | nindent 4 }}
    {{- end }}
    {{- if $git.ssh.keySecret.name }}
    {{- include "fixpoint.secretVolume" (dict "volume" "git-ssh-key" "ref" $git.ssh.keySecret "path" "identity") | nindent 4 }}
    {{- end }}
    {{- if and $git.ssh.knownHostsSecret.name (not $git.ssh.knownHosts) }}
    {{- include "fixpoint.secretVolume" (dict "volume" "git-known-hosts" "ref" $git.ssh.knownHostsSecret "path" "known_hosts") | nindent 4 }}
    {{- end }}
    {{- end }}
    {{- if $v.tls.secretName }}
    - name: tls
      secret:
        secretName: {{ $v.tls.secretName | quote }}
        defaultMode: 288 # 0440
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
