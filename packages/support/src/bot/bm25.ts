/**
 * A small BM25F index: documents with weighted fields (an FAQ entry's questions count
 * more than its answer), scored by Okapi BM25 with per-field length normalisation.
 * Written by hand: the index holds ~50 short documents per language, the whole thing is
 * sixty lines, and the libraries on npm either bring their own tokenizer (English only)
 * or do not expose the per-term bound that the confidence below needs.
 *
 * Confidence. BM25 scores are not comparable between queries, so the bot's threshold is
 * on a normalised figure: the best document's score divided by the sum of the query
 * terms' IDFs — the score a document would get if it held every query term once at
 * average length. A term the index has never seen counts in that sum with the largest
 * IDF: a question mostly about things the FAQ does not know gets a low confidence, which
 * is what hands it to a human.
 */

/** One document: an id and its fields' terms. */
export interface IndexDocument {
  id: string;
  fields: Record<string, string[]>;
}

/** One ranked answer. */
export interface Hit {
  id: string;
  score: number;
  /** score / the query's bound, clipped to [0, 1]. */
  confidence: number;
  /** Query terms the document holds. */
  matched: string[];
}

export interface Bm25Options {
  /** Term-frequency saturation (default 1.2). */
  k1?: number;
  /** Length normalisation (default 0.75). */
  b?: number;
  /** Weight of each field (default 1 for any field not named). */
  weights?: Record<string, number>;
}

export class Bm25Index {
  readonly #k1: number;
  readonly #b: number;
  readonly #weights: Record<string, number>;
  readonly #docs: { id: string; tf: Map<string, Map<string, number>>; len: Map<string, number> }[] = [];
  readonly #df = new Map<string, number>();
  readonly #avgLen = new Map<string, number>();

  constructor(documents: readonly IndexDocument[], options: Bm25Options = {}) {
    this.#k1 = options.k1 ?? 1.2;
    this.#b = options.b ?? 0.75;
    this.#weights = options.weights ?? {};
    const totals = new Map<string, number>();
    for (const doc of documents) {
      const tf = new Map<string, Map<string, number>>();
      const len = new Map<string, number>();
      const seen = new Set<string>();
      for (const [field, terms] of Object.entries(doc.fields)) {
        const counts = new Map<string, number>();
        for (const term of terms) {
          counts.set(term, (counts.get(term) ?? 0) + 1);
          seen.add(term);
        }
        tf.set(field, counts);
        len.set(field, terms.length);
        totals.set(field, (totals.get(field) ?? 0) + terms.length);
      }
      for (const term of seen) this.#df.set(term, (this.#df.get(term) ?? 0) + 1);
      this.#docs.push({ id: doc.id, tf, len });
    }
    for (const [field, total] of totals) this.#avgLen.set(field, total / Math.max(1, documents.length));
  }

  get size(): number {
    return this.#docs.length;
  }

  /** Inverse document frequency (BM25's, never negative); an unseen term gets the largest. */
  idf(term: string): number {
    const n = this.#docs.length;
    const df = this.#df.get(term) ?? 0;
    return Math.log(1 + (n - df + 0.5) / (df + 0.5));
  }

  /**
   * The `limit` best documents for the query terms, best first (only those matching a
   * term). `soft` terms the index has never seen are left out of the confidence's bound
   * instead of counting with the largest IDF: for character bigrams, an unseen one is
   * most often a pair across two words, not a topic the FAQ lacks.
   */
  search(queryTerms: readonly string[], limit = 3, soft?: (term: string) => boolean): Hit[] {
    const terms = [...new Set(queryTerms)];
    if (terms.length === 0) return [];
    const bound = terms.reduce((sum, t) => sum + (soft !== undefined && !this.#df.has(t) && soft(t) ? 0 : this.idf(t)), 0);
    if (bound === 0) return [];
    const hits: Hit[] = [];
    for (const doc of this.#docs) {
      let score = 0;
      const matched: string[] = [];
      for (const term of terms) {
        let weighted = 0;
        for (const [field, counts] of doc.tf) {
          const tf = counts.get(term);
          if (tf === undefined) continue;
          const norm = 1 - this.#b + this.#b * ((doc.len.get(field) ?? 0) / (this.#avgLen.get(field) || 1));
          weighted += ((this.#weights[field] ?? 1) * tf) / norm;
        }
        if (weighted === 0) continue;
        matched.push(term);
        score += (this.idf(term) * weighted * (this.#k1 + 1)) / (weighted + this.#k1);
      }
      if (score > 0) hits.push({ id: doc.id, score, confidence: Math.min(1, score / bound), matched });
    }
    hits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
    return hits.slice(0, limit);
  }
}
