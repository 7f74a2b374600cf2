// Re-exports TypeDoc as installed beside this package, where its peer
// dependency `typescript` resolves to this package's TypeScript 6.0 (not the
// workspace root's TypeScript 7). The root installs this folder as a
// `file:` devDependency, so this file is copied at install time: keep it a
// one-liner; the logic lives in ../typedoc.mjs, which imports it.
export * from 'typedoc';
