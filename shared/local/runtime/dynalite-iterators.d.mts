/** Types of dynalite-iterators.mjs (plain JavaScript, loaded by dynalite's worker thread). */

/** Gives one abstract-level module's iterators a `return()` that closes them; false when they had one. */
export declare function closeOnReturn(abstractLevel: { AbstractIterator: { prototype: object } }): boolean;

/** Installs closeOnReturn in every abstract-level that dynalite's stores load; how many it changed. */
export declare function installIteratorClose(): number;
