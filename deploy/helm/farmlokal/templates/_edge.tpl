{{/*
The edge's Envoy bootstrap: files/edge/envoy-<scheme>.yaml is rendered by farmlokal_edge (the renderer
of `make up` and compose; deploy/helm/edge_config.py, `make k8s-edge-config`) with a slot for each value
only an install knows. Here each slot gets its value, JSON-escaped; nothing else of the file changes.
*/}}
{{- define "farmlokal.json" -}}
{{- toJson . | trimPrefix "\"" | trimSuffix "\"" -}}
{{- end -}}

{{- define "farmlokal.jwksUri" -}}
{{- .Values.edge.jwt.jwksUri | default (printf "%s/.well-known/jwks.json" (include "farmlokal.sandboxUrl" .)) -}}
{{- end -}}

{{- define "farmlokal.edgeConfig" -}}
{{- $jwt := .Values.edge.jwt -}}
{{- $uri := urlParse (include "farmlokal.jwksUri" .) -}}
{{- $scheme := $uri.scheme -}}
{{- if not (has $scheme (list "http" "https")) -}}
{{- fail (printf "edge.jwt.jwksUri must be an absolute http or https URI, not %q" (include "farmlokal.jwksUri" .)) -}}
{{- end -}}
{{- $hostPort := splitList ":" $uri.host -}}
{{- $host := first $hostPort -}}
{{- $port := ternary (last $hostPort) (ternary "443" "80" (eq $scheme "https")) (eq (len $hostPort) 2) -}}
{{- $path := $uri.path | default "/" -}}
{{- if $uri.query }}{{ $path = printf "%s?%s" $path $uri.query }}{{ end -}}
{{- $caFile := ternary "/etc/farmlokal-edge/jwks-ca/ca.crt" "/etc/ssl/certs/ca-certificates.crt" (ne $jwt.jwksCaConfigMap "") -}}
{{- if not $jwt.audiences }}{{ fail "edge.jwt.audiences needs at least one audience" }}{{ end -}}
{{- if not .Values.edge.corsAllowedOrigins }}{{ fail "edge.corsAllowedOrigins needs at least one origin" }}{{ end -}}
{{- $audiences := list -}}
{{- range $jwt.audiences }}{{ $audiences = append $audiences (toJson .) }}{{ end -}}
{{- $origins := list -}}
{{- range .Values.edge.corsAllowedOrigins }}{{ $origins = append $origins (toJson .) }}{{ end -}}
{{- $config := .Files.Get (printf "files/edge/envoy-%s.yaml" $scheme) -}}
{{- if not $config }}{{ fail "files/edge/ is empty: run `make k8s-edge-config`" }}{{ end -}}
{{- $config = $config | replace "slot-jwks-host.invalid:65000/slot-jwks-path" (include "farmlokal.json" (printf "%s:%s%s" $host $port $path)) -}}
{{- $config = $config | replace "\"port_value\": 65000" (printf "\"port_value\": %s" $port) -}}
{{- $config = $config | replace "slot-jwks-host.invalid" (include "farmlokal.json" $host) -}}
{{- $config = $config | replace "/slot/jwks-ca-file" $caFile -}}
{{- $config = $config | replace "\"slot-jwt-issuer\"" (toJson $jwt.issuer) -}}
{{- $config = $config | replace "\"slot-jwt-audience\"" (join ", " $audiences) -}}
{{- /* One origin slot in [{"exact": "slot"}]: `"a"}, {"exact": "b"` makes it a list of all of them. */ -}}
{{- $config = $config | replace "\"slot-cors-origin\"" (join "}, {\"exact\": " $origins) -}}
{{- range $component := list "catalog" "webhook" "auth" -}}
{{- $config = $config | replace (printf "slot-%s-host.invalid" $component) (include "farmlokal.serviceHost" (dict "root" $ "component" $component)) -}}
{{- end -}}
{{- $config -}}
{{- end -}}
