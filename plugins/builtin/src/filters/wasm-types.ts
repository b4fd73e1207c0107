// The slice of the WebAssembly JS API the proxy-wasm host uses (lib.dom is not in this project's libs; Node
// provides the global at run time).
/* eslint-disable @typescript-eslint/no-namespace -- the WebAssembly global is a namespace */
declare global {
  namespace WebAssembly {
    class Module {
      static imports(m: Module): Array<{ module: string; name: string; kind: 'function' | 'table' | 'memory' | 'global' | 'tag' }>;
      static exports(m: Module): Array<{ name: string; kind: string }>;
    }
    class Memory {
      readonly buffer: ArrayBuffer;
    }
    class Instance {
      readonly exports: Record<string, ExportValue>;
    }
    type ExportValue = ((...args: never[]) => unknown) | Memory | object;
    type ImportValue = (...args: never[]) => unknown;
    type Imports = Record<string, Record<string, ImportValue>>;
    function compile(bytes: ArrayBufferView | ArrayBuffer): Promise<Module>;
    function instantiate(module: Module, imports?: Imports): Promise<Instance>;
  }
}

export {};
