// istiod's `/version` on the monitoring port, so `istioctl version` finds a control plane: the text istiod writes
// there (BuildInfo's `version-revision-status`), which istioctl splits on its last two dashes.
import type { MonitoringResponse } from './monitoring.js';

/**
 * Istio stamps the revision and tree status at build time; Ambit's build does not, so both are `unknown`, as in
 * an unstamped Istio build. The version is Ambit's own (`ambit version`), not an Istio release.
 */
export function istiodVersion(version: string, revision = 'unknown', status = 'unknown'): MonitoringResponse {
  return { contentType: 'text/plain; charset=utf-8', body: `${version}-${revision}-${status}` };
}
