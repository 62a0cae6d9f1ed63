// The part of Electron's main-process API that Roost uses, as types. Electron is an optional dependency
// whose binary (and with it its type declarations) is not always installed; writing the boundary down
// here keeps `tsc` checking main.ts either way, and is exactly the surface the tests fake
// (tests/unit/electron-main.test.ts). Shapes follow Electron's documentation (electronjs.org/docs/latest/api).
/* eslint-disable @typescript-eslint/no-explicit-any */

export interface MenuItemOptions {
  label?: string;
  type?: 'normal' | 'separator' | 'checkbox';
  enabled?: boolean;
  visible?: boolean;
  checked?: boolean;
  click?: (menuItem: any) => void;
}

export interface MenuLike { items?: unknown[] }

export interface NativeImageLike { isEmpty?(): boolean; setTemplateImage?(flag: boolean): void }

export interface TrayLike {
  setImage(image: string | NativeImageLike): void;
  setToolTip(text: string): void;
  setContextMenu(menu: MenuLike | null): void;
  on(event: 'click' | 'double-click', listener: () => void): unknown;
  destroy(): void;
}

export interface WebFrameLike { url: string }

export interface IpcMainInvokeEventLike {
  sender: WebContentsLike;
  senderFrame: WebFrameLike | null;
}

export interface WebContentsLike {
  id: number;
  send(channel: string, ...args: unknown[]): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' } | { action: 'allow' }): void;
  isDestroyed(): boolean;
  getURL?(): string;
}

export interface BrowserWindowOptions {
  width?: number;
  height?: number;
  minWidth?: number;
  minHeight?: number;
  show?: boolean;
  title?: string;
  icon?: string;
  autoHideMenuBar?: boolean;
  backgroundColor?: string;
  webPreferences?: {
    preload?: string;
    contextIsolation?: boolean;
    sandbox?: boolean;
    nodeIntegration?: boolean;
    nodeIntegrationInWorker?: boolean;
    webSecurity?: boolean;
    allowRunningInsecureContent?: boolean;
    webviewTag?: boolean;
    spellcheck?: boolean;
  };
}

export interface BrowserWindowLike {
  webContents: WebContentsLike;
  loadURL(url: string): Promise<void>;
  show(): void;
  hide(): void;
  focus(): void;
  restore(): void;
  isMinimized(): boolean;
  isVisible(): boolean;
  isDestroyed(): boolean;
  destroy(): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
}

export interface NotificationLike { show(): void; on?(event: string, listener: () => void): unknown }

export interface LoginItemSettings { openAtLogin: boolean }

export interface AppLike {
  requestSingleInstanceLock(): boolean;
  on(event: string, listener: (...args: any[]) => void): unknown;
  whenReady(): Promise<void>;
  quit(): void;
  exit(code?: number): void;
  getVersion(): string;
  getPath(name: 'userData' | 'logs' | 'home'): string;
  isPackaged: boolean;
  getLoginItemSettings(): LoginItemSettings;
  setLoginItemSettings(settings: { openAtLogin: boolean; openAsHidden?: boolean }): void;
  setAppUserModelId?(id: string): void;
  dock?: { hide(): void; show(): Promise<void> | void };
}

export interface ProtocolLike {
  registerSchemesAsPrivileged(schemes: Array<{ scheme: string; privileges: Record<string, boolean> }>): void;
  handle(scheme: string, handler: (request: Request) => Response | Promise<Response>): void;
}

export interface SessionLike {
  webRequest: {
    onHeadersReceived(listener: (details: { url: string; responseHeaders?: Record<string, string[] | string> }, callback: (response: { responseHeaders?: Record<string, string[] | string>; cancel?: boolean }) => void) => void): void;
  };
  setPermissionRequestHandler(handler: ((webContents: unknown, permission: string, callback: (granted: boolean) => void) => void) | null): void;
}

export interface SafeStorageLike {
  isEncryptionAvailable(): boolean;
  encryptString(plainText: string): Buffer;
  decryptString(encrypted: Buffer): string;
  /** Linux only: 'basic_text' means no keyring, i.e. no real protection. */
  getSelectedStorageBackend?(): string;
}

/** The `electron` module as Roost's main process uses it. */
export interface ElectronApi {
  app: AppLike;
  BrowserWindow: new (options: BrowserWindowOptions) => BrowserWindowLike;
  Tray: new (image: string | NativeImageLike) => TrayLike;
  Menu: { buildFromTemplate(template: MenuItemOptions[]): MenuLike };
  ipcMain: {
    handle(channel: string, listener: (event: IpcMainInvokeEventLike, ...args: unknown[]) => unknown): void;
    removeHandler(channel: string): void;
  };
  Notification: (new (options: { title: string; body?: string; silent?: boolean }) => NotificationLike) & { isSupported(): boolean };
  safeStorage: SafeStorageLike;
  clipboard: { writeText(text: string): void };
  shell: { showItemInFolder(fullPath: string): void; openExternal?(url: string): Promise<void> };
  dialog: {
    showOpenDialog(window: BrowserWindowLike | undefined, options: { title?: string; defaultPath?: string; properties: string[] }): Promise<{ canceled: boolean; filePaths: string[] }>;
    showSaveDialog?(window: BrowserWindowLike | undefined, options: { title?: string; defaultPath?: string }): Promise<{ canceled: boolean; filePath?: string }>;
    showMessageBox?(options: { type?: string; message: string; detail?: string; buttons?: string[] }): Promise<unknown>;
  };
  protocol: ProtocolLike;
  session: { defaultSession: SessionLike };
  nativeImage?: { createFromPath(path: string): NativeImageLike };
}
