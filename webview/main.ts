/**
 * Entry of the Gradient Lens side panel (bundled by scripts/build.mjs into dist/webview.js, an
 * IIFE for the browser).
 *
 * What the host's HTML must provide — nothing else; the script builds its own DOM in <body>:
 *   - `<link rel="stylesheet" href="{asWebviewUri(media/panel.css)}">` in <head>;
 *   - `<script nonce="{nonce}" src="{asWebviewUri(dist/webview.js)}"></script>` at the end of <body>;
 *   - a CSP such as `default-src 'none'; img-src {cspSource} data:; style-src {cspSource};
 *     font-src {cspSource}; script-src 'nonce-{nonce}';` (Chart.js and the web components set
 *     styles through the CSSOM and constructable stylesheets, which that policy allows).
 * The view talks only through src/shared/viewProtocol.ts: it posts `ready` once loaded and
 * expects a `snapshot` in reply. For end-to-end tests it publishes `window.__gradientLens`
 * (`ViewTestHook` in viewProtocol.ts) after every redraw.
 */
import { VIEW_PROTOCOL_VERSION, type HostToViewMessage } from '../src/shared/viewProtocol';
import { Panel } from './panel';
import { HostConnection } from './vscodeApi';

const HOST_MESSAGE_TYPES = new Set<string>(['snapshot', 'steps', 'finding', 'status', 'clear']);

function isHostMessage(data: unknown): data is HostToViewMessage {
  return typeof data === 'object' && data !== null && HOST_MESSAGE_TYPES.has((data as { type?: unknown }).type as string);
}

const host = new HostConnection();
const root = document.createElement('main');
root.id = 'gradient-lens';
document.body.append(root);
const panel = new Panel(root, host);

window.addEventListener('message', (event: MessageEvent) => {
  if (isHostMessage(event.data)) panel.receive(event.data);
});
host.post({ type: 'ready', protocolVersion: VIEW_PROTOCOL_VERSION });
