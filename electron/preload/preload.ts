// The preload: runs sandboxed, before the page, with access to ipcRenderer. It exposes exactly one object,
// window.roost (RoostBridge, electron/shared/api.ts), and never ipcRenderer itself, so a compromised page
// can only make the calls the API defines (and main validates each one anyway).
//
// main answers each call with an ApiReply; a failure is re-thrown as a plain { name, code, message,
// problems } object, because contextBridge copies only the message of Error objects and the renderer
// needs the code and the per-field problems.
// @ts-ignore -- Electron's type declarations exist only where the package is installed (see electron/main/electron-api.ts).
import { contextBridge, ipcRenderer } from 'electron';
import type { ApiEvent, ApiMethod, ApiParams, ApiReply, ApiResult, RoostBridge } from '../shared/api.js';

interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): void;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): void;
}
interface ContextBridgeLike {
  exposeInMainWorld(key: string, api: unknown): void;
}

const ipc = ipcRenderer as unknown as IpcRendererLike;

const bridge: RoostBridge = {
  async call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    const reply = (await ipc.invoke('roost:call', method, params)) as ApiReply<M>;
    if (reply.ok) return reply.result;
    throw { name: 'ApiCallError', ...reply.error };
  },
  onEvent(listener: (event: ApiEvent) => void): () => void {
    const handler = (_event: unknown, payload: unknown): void => listener(payload as ApiEvent);
    ipc.on('roost:event', handler);
    return () => ipc.removeListener('roost:event', handler);
  },
};

(contextBridge as unknown as ContextBridgeLike).exposeInMainWorld('roost', bridge);
