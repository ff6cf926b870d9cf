/** The shop's catalogue, seeded into an empty products database. Prices in cents. */
export interface SeedProduct {
  id: number;
  sku: string;
  name: string;
  nameZh: string;
  category: string;
  priceCents: number;
  stock: number;
  description: string;
}

const item = (id: number, sku: string, name: string, nameZh: string, category: string, priceCents: number, stock: number, description: string): SeedProduct => ({ id, sku, name, nameZh, category, priceCents, stock, description });

export const CATALOGUE: readonly SeedProduct[] = [
  item(1, 'TEA-001', 'Longjing green tea, 100 g', '龙井绿茶 100克', 'tea', 1890, 120, 'Pan-fired green tea from Hangzhou, chestnut aroma.'),
  item(2, 'TEA-002', 'Pu-erh cake, 357 g', '普洱茶饼 357克', 'tea', 4200, 40, 'Aged ripe pu-erh, pressed into a traditional cake.'),
  item(3, 'TEA-003', 'Jasmine pearls, 50 g', '茉莉龙珠 50克', 'tea', 1500, 80, 'Hand-rolled green tea scented with jasmine blossoms.'),
  item(4, 'CUP-001', 'Celadon tea cup', '青瓷茶杯', 'teaware', 1200, 60, 'A small cup in Longquan celadon glaze.'),
  item(5, 'POT-001', 'Yixing clay teapot', '宜兴紫砂壶', 'teaware', 8900, 12, 'Unglazed purple clay, 200 ml, for oolong and pu-erh.'),
  item(6, 'KET-001', 'Gooseneck kettle', '细口手冲壶', 'teaware', 3900, 25, 'Stainless steel, 1 l, for a steady pour.'),
  item(7, 'BAG-001', 'Canvas tote bag', '帆布手提袋', 'accessories', 990, 200, 'Heavy cotton canvas with the Brisk logo.'),
  item(8, 'MUG-001', 'Enamel camping mug', '搪瓷杯', 'accessories', 1100, 90, 'Enamelled steel, 350 ml, chips add character.'),
  item(9, 'NOTE-001', 'Dot-grid notebook', '点阵笔记本', 'stationery', 1400, 150, 'A5, 160 pages of 100 g paper.'),
  item(10, 'PEN-001', 'Brass fountain pen', '黄铜钢笔', 'stationery', 5400, 30, 'Solid brass body, fine steel nib, converter included.'),
  item(11, 'INK-001', 'Blue-black ink, 50 ml', '蓝黑墨水 50毫升', 'stationery', 1300, 70, 'Iron-gall free, water-resistant once dry.'),
  item(12, 'LAMP-001', 'Paper lantern lamp', '纸灯笼台灯', 'home', 3200, 20, 'Mulberry paper shade on an oak base.'),
  item(13, 'RUG-001', 'Wool door mat', '羊毛门垫', 'home', 2800, 35, 'Felted wool, 40 x 60 cm.'),
  item(14, 'SOAP-001', 'Osmanthus soap', '桂花香皂', 'home', 650, 300, 'Cold-process soap with osmanthus oil.'),
  item(15, 'SNACK-001', 'Sesame brittle', '芝麻糖', 'snacks', 480, 250, 'Black sesame and maltose, a winter classic.'),
  item(16, 'SNACK-002', 'Dried mango slices', '芒果干', 'snacks', 690, 180, 'Sun-dried, no sugar added.'),
  item(17, 'LIMITED-001', 'Limited edition tea set', '限量版茶具套装', 'teaware', 25800, 3, 'Only three made: pot, pitcher and four cups.'),
  item(18, 'GIFT-001', 'Gift card, 50', '礼品卡 50元', 'gifts', 5000, 1000, 'Delivered by e-mail.'),
];
