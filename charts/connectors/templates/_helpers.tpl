{{/*
Helpers of the Connectors chart. Every object carries exactly the labels of the kustomization
(manifests/): app.kubernetes.io/part-of: connectors on all, name and component on the workloads'
objects. Helm's own labels (helm.sh/chart, app.kubernetes.io/managed-by, …) are deliberately not
added: with the default values the chart must render the kustomization's objects unchanged, so
that `helm install` and `kubectl apply -k manifests/` give the same cluster. Helm tracks what it
owns through its annotations meta.helm.sh/release-name and -namespace, which it adds at install.
*/}}

{{/* Labels of a component's objects; call with (list "connectors-apiserver" "apiserver"). */}}
{{- define "connectors.labels" -}}
app.kubernetes.io/name: {{ index . 0 }}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/part-of: connectors
{{- end }}

{{/* The image of every container: image.tag defaults to the chart's appVersion. */}}
{{- define "connectors.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Pod-level imagePullSecrets, rendered only when some are given (the manifests have none). */}}
{{- define "connectors.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The kubelet root without a trailing slash. */}}
{{- define "connectors.kubeletDir" -}}
{{ trimSuffix "/" .Values.kubeletDir }}
{{- end }}

{{/*
Checks across values that values.schema.json cannot word clearly; renders nothing. Included once,
by namespaces.yaml, which every rendering has.
*/}}
{{- define "connectors.validate" -}}
{{- if and .Values.caBundle .Values.certManager.enabled }}
{{- fail "caBundle and certManager.enabled=true do not go together: with cert-manager, its cainjector fills the caBundles; give caBundle only when you issue the certificates yourself" }}
{{- end }}
{{- $p := .Values.proxy }}
{{- if and $p.allowHosts (ne $p.otherHosts "tunnel") }}
{{- fail "proxy.allowHosts reopens destinations of tunnels only: set proxy.otherHosts=tunnel too" }}
{{- end }}
{{- if and (eq $p.otherHosts "tunnel") (or (not $p.serviceClusterIPRange) (not $p.clusterCIDR)) }}
{{- fail "proxy.otherHosts=tunnel needs proxy.serviceClusterIPRange and proxy.clusterCIDR (the cluster's Service and Pod CIDRs), which tunnels must never reach" }}
{{- end }}
{{- range $p.extraArgs }}
{{- $flag := regexReplaceAll "=.*" . "" }}
{{- if has $flag (list "--port" "--bind-address" "--proxy-ca-cert-file" "--proxy-ca-key-file" "--publish-ca-configmap" "--authentication-token-audiences" "--other-hosts" "--service-cluster-ip-range" "--cluster-cidr" "--allow-hosts" "--shutdown-delay-duration") }}
{{- fail (printf "proxy.extraArgs: %s is set by the chart; what may change has its own value (under proxy and proxyCA, or shutdownDelaySeconds)" $flag) }}
{{- end }}
{{- end }}
{{- range .Values.mysqlProxy.extraArgs }}
{{- $flag := regexReplaceAll "=.*" . "" }}
{{- if has $flag (list "--mysql-port" "--health-port" "--connector-classes" "--authentication-token-audiences" "--proxy-ca-cert-file" "--proxy-ca-key-file" "--shutdown-delay-duration") }}
{{- fail (printf "mysqlProxy.extraArgs: %s is set by the chart; what may change has its own value (under mysqlProxy and proxyCA, or shutdownDelaySeconds)" $flag) }}
{{- end }}
{{- end }}
{{- end }}
