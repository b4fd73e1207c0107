// A Gateway's listeners as the controller serves them (the renderer's ports, the status's listener entries).
import { CLASS_MESH, PORT_HBONE, PROTOCOL_HBONE } from './constants.js';
import type { Gateway, Listener } from './types.js';

/** Listeners of the Gateway; a 2022-dialect Gateway without listeners gets the implicit HBONE listener. */
export function effectiveListeners(gw: Gateway): Listener[] {
  const ls = gw.spec?.listeners ?? [];
  if (ls.length === 0 && gw.spec?.gatewayClassName === CLASS_MESH) return [{ name: 'mesh', port: PORT_HBONE, protocol: PROTOCOL_HBONE }];
  return ls;
}
