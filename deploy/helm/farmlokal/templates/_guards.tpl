{{/*
Refuses to render what must not be installed. A production install (production: true) uses no dev
secret, no sandbox and no sandbox provider; any install needs its secrets from somewhere.
*/}}
{{- define "farmlokal.guards" -}}
{{- $v := .Values -}}
{{- if and (not $v.secrets.existingSecret) (not $v.dev.enabled) -}}
{{- fail "secrets.existingSecret is required: name a Secret with the keys listed in values.yaml (dev.enabled makes a dev one)" -}}
{{- end -}}
{{- if $v.production -}}
{{- if $v.dev.enabled -}}
{{- fail "production: dev.enabled must be false (it installs the sandbox and a Secret holding the dev passwords)" -}}
{{- end -}}
{{- if not $v.secrets.existingSecret -}}
{{- fail "production: secrets.existingSecret is required; the chart's dev Secret is never used in production" -}}
{{- end -}}
{{- range $setting, $value := dict "oauth.tokenUrl" $v.oauth.tokenUrl "oauth.healthUrl" $v.oauth.healthUrl "edge.jwt.jwksUri" $v.edge.jwt.jwksUri "supplier.baseUrl" $v.supplier.baseUrl "supplier.healthUrl" $v.supplier.healthUrl -}}
{{- if not $value -}}
{{- fail (printf "production: %s is required (empty means the dev sandbox)" $setting) -}}
{{- end -}}
{{- end -}}
{{- $values := toYaml $v -}}
{{- range $secret := list "_dev_pw" "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" "dev-services-secret" "dev-admin-secret" "dev-only-cursor-secret" "sandbox.farmlokal.test" -}}
{{- if contains $secret $values -}}
{{- fail (printf "production: the values hold a dev secret or the sandbox (%s); production secrets come only from secrets.existingSecret" $secret) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
