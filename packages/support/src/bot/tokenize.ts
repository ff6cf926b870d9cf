/**
 * Turning a question into index terms, in Chinese and English.
 *
 * Chinese has no spaces, so terms come from a segmenter. We use jieba (`@node-rs/jieba`:
 * the jieba dictionary and HMM compiled to a native addon, prebuilt per platform and
 * installed from the npm registry like any package; its dictionary ships inside it, so
 * nothing is downloaded at run time) in search mode, which also emits the shorter words
 * inside a long one (多长时间 → 多长, 时间, 长时间, 多长时间), so a customer who writes 时间
 * still meets an FAQ that says 多长时间. Character bigrams (the other choice, no
 * dictionary: 退货运费 → 退货, 货运, 运费) are kept as a mode: `npm run eval` measures both,
 * and docs/support-chat.md has the figures that decided it. When the native addon cannot
 * load (a platform without a prebuilt binary), the bot falls back to bigrams and says so
 * once in its log instead of failing.
 *
 * English: lower case, words split on anything that is not a letter or digit, stop words
 * dropped, and a light suffix stemmer (plural -s, -es, -ies, -ing, -ed) so "parcels",
 * "shipped" and "shipping" meet "parcel" and "ship". A full Porter stemmer was not worth
 * a dependency for questions of ten words; the few suffixes that matter are here.
 */
import { createRequire } from 'node:module';

/** How Chinese text is cut into terms. */
export type ChineseMode = 'jieba' | 'bigram' | 'jieba+bigram';

/** A segmenter: text → words (jieba's `cutForSearch`, or a stand-in in tests). */
export type Segmenter = (text: string) => string[];

const CJK = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/;
const CJK_RUN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+/g;
const LATIN_WORD = /[\p{L}\p{N}]+/gu;

/** True when the text has any Chinese character: the bot answers in Chinese then. */
export function isChinese(text: string): boolean {
  return CJK.test(text);
}

// Function words carry no topic; keeping them would let "how do I" match every FAQ entry.
const EN_STOP = new Set(
  ('a an the i me my mine we us our you your yours he she it its they them their this that these those ' +
    'is am are was were be been being do does did doing have has had having will would shall should can could may might must ' +
    'and or but if then so than too very just also not no yes of at by for with about into onto from to in on up down out over ' +
    'what which who whom whose when where why how there here all any some each every more most other such only own same ' +
    'please thanks thank hi hello hey ok okay get got still yet s t d ll re ve m')
    .split(' '),
);

const ZH_STOP = new Set(
  ('的 了 吗 呢 吧 啊 呀 哦 嘛 么 是 在 我 你 您 他 她 它 我们 你们 他们 这 那 这个 那个 就 都 也 还 又 和 与 及 或 ' +
    '请问 请 想 要 能 会 可以 一下 一个 有 没 没有 怎么 怎么办 怎样 如何 什么 为什么 哪 哪里 多少 几 ？ ! ！ , ， 。 、 ~ … ' +
    '东西 一直 现在 已经 还是 就是 但是 可是 因为 所以 如果 的话 自己 大概 具体 明明 根本 其他 这样 那样 一些 时候 然后 不过 真的 非常 太 很 给 把 被 让 对 从 到 里 上 下')
    .split(' '),
);

/** Light English stemmer: enough for plurals and the common verb endings. */
export function stemEnglish(word: string): string {
  if (word.length <= 3 || /\d/.test(word)) return word;
  if (word.endsWith('ies') && word.length > 4) return `${word.slice(0, -3)}y`;
  if (word.endsWith('sses')) return word.slice(0, -2);
  if (word.endsWith('ing') && word.length > 5) return undouble(word.slice(0, -3));
  if (word.endsWith('ed') && word.length > 4) return undouble(word.slice(0, -2));
  if (word.endsWith('es') && /(?:ch|sh|x|ss|zz)es$/.test(word)) return word.slice(0, -2);
  if (word.endsWith('s') && !word.endsWith('ss') && !word.endsWith('us') && !word.endsWith('is')) return word.slice(0, -1);
  return word;
}

// shipp(ing) → ship, stopp(ed) → stop; but not "fill" → "fil" or "pass" → "pas".
function undouble(stem: string): string {
  return /([^aeioulsz])\1$/.test(stem) ? stem.slice(0, -1) : stem;
}

/**
 * Words customers use for the same thing, mapped to one term on both sides (FAQ and
 * question): a small table of the shop's vocabulary, applied after stemming. A synonym
 * that belongs to one FAQ entry only goes into that entry's keywords instead.
 */
const EN_SYNONYMS = new Map<string, string>(
  Object.entries({
    package: 'parcel', shipment: 'parcel', packet: 'parcel',
    carrier: 'courier', deliveryman: 'courier', postman: 'courier',
    reimburse: 'refund', reimbursement: 'refund',
    undo: 'cancel', revoke: 'cancel', cancellation: 'cancel',
    faulty: 'broken', defective: 'broken', crack: 'broken', smash: 'broken', malfunction: 'broken', broke: 'broken',
    charge: 'fee', cost: 'fee', postage: 'fee',
    double: 'twice', duplicate: 'twice',
    voucher: 'coupon', promo: 'coupon',
    receipt: 'invoice', fapiao: 'invoice',
    newsletter: 'email', mail: 'email',
    mobile: 'phone', cellphone: 'phone',
    signup: 'register', registration: 'register', enroll: 'register',
    erase: 'delete', remove: 'delete',
    color: 'colour',
    installment: 'instalment',
    cod: 'cash',
    cheaper: 'cheap',
  }),
);

const ZH_SYNONYMS = new Map<string, string>(
  Object.entries({
    退钱: '退款', 返款: '退款',
    撤回: '取消', 撤销: '取消',
    两次: '重复', 两笔: '重复',
    付现: '现金',
    故障: '坏了', 损坏: '坏了',
    券: '优惠券', 折扣券: '优惠券', 代金券: '优惠券',
    收据: '发票',
    手机号: '手机号码', 电话号码: '手机号码',
    邮件: '邮箱', 电子邮件: '邮箱',
    删除: '注销',
  }),
);

/** English terms of a text (also used for the Latin words inside Chinese text). */
export function englishTerms(text: string): string[] {
  const out: string[] = [];
  // Chinese characters are letters too (\p{L}): blank them so "用Visa付款" yields "visa".
  for (const match of text.toLowerCase().normalize('NFKC').replace(CJK_RUN, ' ').matchAll(LATIN_WORD)) {
    const word = match[0];
    if (EN_STOP.has(word)) continue;
    const stem = stemEnglish(word);
    out.push(EN_SYNONYMS.get(stem) ?? EN_SYNONYMS.get(word) ?? stem);
  }
  return out;
}

/** Overlapping character pairs of every Chinese run (a one-character run is kept whole). */
export function bigrams(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(CJK_RUN)) {
    const run = match[0];
    if (run.length === 1) {
      if (!ZH_STOP.has(run)) out.push(run);
      continue;
    }
    for (let i = 0; i + 1 < run.length; i++) out.push(run.slice(i, i + 2));
  }
  return out;
}

/** Terms of a Chinese text: segmented words and/or bigrams, plus its Latin words. */
export function chineseTerms(text: string, mode: ChineseMode, segment: Segmenter | undefined): string[] {
  const normal = text.normalize('NFKC');
  const out: string[] = [];
  if (mode !== 'bigram' && segment !== undefined) {
    for (const word of segment(normal)) {
      const w = word.trim();
      if (w === '' || !CJK.test(w) || ZH_STOP.has(w)) continue;
      out.push(ZH_SYNONYMS.get(w) ?? w);
    }
  }
  if (mode !== 'jieba' || segment === undefined) out.push(...bigrams(normal));
  out.push(...englishTerms(normal));
  return out;
}

let jieba: Segmenter | null | undefined;

/**
 * jieba's search-mode segmenter, loaded once (the dictionary takes ~0.5 s and ~30 MB),
 * or null when the native addon is not available on this platform.
 */
export function loadJieba(): Segmenter | null {
  if (jieba !== undefined) return jieba;
  try {
    const require = createRequire(import.meta.url);
    const { Jieba } = require('@node-rs/jieba') as { Jieba: { withDict(dict: Uint8Array): { cutForSearch(text: string, hmm?: boolean): string[] } } };
    const { dict } = require('@node-rs/jieba/dict') as { dict: Uint8Array };
    const instance = Jieba.withDict(dict);
    jieba = (text) => instance.cutForSearch(text, true);
  } catch {
    jieba = null;
  }
  return jieba;
}
