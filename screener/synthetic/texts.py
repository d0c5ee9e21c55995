"""What generated traffic says: every template of the synthetic package, in one place.

Long: three template sets, one per mode of the package. (1) The event stream
(`screener generate`): benign chat and microblog text and violations per category; terms a
filter looks for are marked `[[…]]` so that `screener.synthetic.evasion` can disguise them,
`{slots}` are filled with contacts, prices and links. (2) The benchmark corpus
(`screener.synthetic.corpus`): ranked common characters, English words, violating lines.
(3) The shipped sample events (`screener.synthetic.samples`): everyday lines and violation
writers drawing contacts from a `Faker`. Each set keeps its own wording because the outputs
are pinned byte for byte (seeds/events, verdict digests, benchmark corpora).

Violations follow the cases of the seed report (../shared/seeds): WeChat rings advertising
and organising prostitution with contact details (Foshan, Beijing), an account posting
thousands of obscene images (Dongguan, 8,951 images), blackmail of clients after the deal
(Harbin), plus the grey-market adverts, gambling and fraud that share the same channels.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from screener.synthetic.fake import Faker, circled, zero_width_join

CATEGORIES = ("porn", "solicitation", "illicit_ads", "gambling", "fraud", "extortion", "abuse")
DEFAULT_MIX = {
    "solicitation": 0.28, "porn": 0.22, "illicit_ads": 0.14, "gambling": 0.12,
    "fraud": 0.12, "extortion": 0.05, "abuse": 0.07,
}  # fmt: skip

VIOLATIONS: dict[str, tuple[str, ...]] = {
    "solicitation": (
        "同城[[约炮]]，[[加微信]]{wx}",
        "美女[[上门]]，[[全套]]，[[加V信]] {wx}",
        "[[学生妹]]可外出 {phone}",
        "美女[[空降]]酒店，[[加微信]]{wx}",
        "美女[[上门]]，[[快餐]]{price}，[[包夜]]{price2}",
        "[[学生妹]][[莞式]][[全套]] {price2}[[包夜]] [[QQ]] {qq}",
        "{city}[[楼凤]][[上门]]，懂的来，电话{phone}",
        "新到[[学生妹]]，颜值高，[[快餐]]{price}，[[包夜]]{price2}，[[微信]] {wx}",
        "夜场招聘[[小妹]]，日结高薪，包吃住，[[加微信]]{wx}",
        "{city}大量招募小姐姐，到手{price}两个小时，[[加QQ]]{qq}",
        "[[援交]] [[学生]] {price}一次，[[加微]] {wx}",
        "[[约炮]]吗？{city}的，[[加微信]]{wx}",
        "Hot [[escort]] girls in {city_en}, [[incall]] and [[outcall]], call {phone}",
        "Want a [[hookup]] tonight? add wechat {wx}",
    ),
    "porn": (
        "[[无码]]视频出售 [[微信]]: {wx}",
        "私密视频5元一部，[[vx]]: {wx}",
        "有人要[[无码]]资源吗，[[加QQ]]{qq}",
        "[[黄片]]打包出售，{price}元两百部，要的私",
        "福利来了，[[大尺度]]套图，{url}",
        "[[无码]] [[自慰]]视频合集，[[加微信]]{wx}",
        "[[裸聊]]一对一，{price}一次，[[QQ]] {qq}",
        "[[色情]]直播最新地址 {url}",
        "自录视频，q {qq}",
        "Free [[porn]] videos every day at {url}",
    ),
    "illicit_ads": (
        "抖音[[代发]]一单五米，长期合作，[[加微信]]{wx}",
        "[[刷单]]一块一单，日结，[[加QQ]]{qq}",
        "需要[[刷粉]]的找我，真人粉1000个{price}元",
        "公众号[[粉丝]]500个90元 需要的加我 {wx}",
        "小红书发文，五米一条，做的来 ➕Q {qq}",
        "专业[[点赞]]，好评，[[刷单]]，做的找我 {wx}",
        "[[短信群发]] [[代发]]，价格便宜，电话{phone}",
        "[[代开发票]] [[办证]] 电话{phone}",
        "You have 1 new voicemail. Please call {phone_uk}.",
    ),
    "gambling": (
        "[[百家乐]]真人视讯，开户找我 {wx}",
        "[[网赌]]上分，充值送[[彩金]]，{url}",
        "新人首存100➕100，浏览器打开 {domain}",
        "牛牛 5/10 10/20 房间已开，[[加微信]]{wx}",
        "金花牛牛三公，玩的[[加QQ]]{qq}",
        "新澳内幕消息，每期都中，[[加微信]]{wx}",
        "开云体育，注册送[[彩金]]，{url}",
        "[[百家乐]] 稳赚不赔 [[加微]]{wx}",
        "Online casino jackpot tonight, sign up bonus at {url}",
    ),
    "fraud": (
        "您的账户涉嫌洗钱已被冻结，请将资金转入[[安全账户]]",
        "【客服】退款理赔请点击 {url} 填写",
        "审核成功直接到账2000元，登录 {domain} 查看",
        "兼职需要两个手机，一小时一结900，[[加微信]]{wx}",
        "黑户白户都能下款，不看征信，[[贷款]]找我 {wx}",
        "跑分项目，收款码一天几百，[[加QQ]]{qq}",
        "[[刷单]]返利，零投资，日结两千起，[[加微信]]{wx}",
        "内幕消息，带单实盘，[[加微信]]，每天给你一只牛股 {wx}",
        "URGENT! You have WON a guaranteed £1000 cash prize. Call {phone_uk} to claim",
    ),
    "extortion": (
        "你[[嫖娼]]的视频在我手上，不给{amount}就发给你老婆",
        "你的[[裸照]]我都存了，今晚之前[[转账]]{amount}，否则群发你通讯录",
        "聊天记录截图我都有，限你三小时内打钱，不然发到你们单位群",
        "你手机通讯录我已经导出了，视频不想被发出去就[[转账]]",
        "你[[嫖娼]]被拍了，交{amount}私了，不然通知你单位",
        "不给钱我就把视频发到你家人群里",
        "I recorded you through your webcam. Pay $2000 in bitcoin or I send the video to all "
        "your contacts",
    ),
    "abuse": (
        "你个[[傻逼]]",
        "你就是个废物，滚",
        "你脑残吧",
        "[[傻逼]]废物，垃圾，滚",
        "你怎么不去死",
        "你全家死光",
        "fuck you, don't text me again",
        "you stupid idiot",
    ),
}

# Porn posts with images only (the Dongguan account): short captions or none.
IMAGE_CAPTIONS = ("", "", "福利", "今日福利", "懂的来", "大尺度", "私我", "🔥🔥🔥", "more in dm")

CHAT_ZH = (
    "晚上一起吃饭吗", "我到楼下了", "好的收到", "哈哈哈笑死我了", "明天几点开会",
    "下雨了记得带伞", "刚抢到一个红包，才两毛", "这个PPT你再帮我看一下", "周末去爬山吗",
    "妈妈说晚上回家吃饭", "快递到了帮我拿一下", "今天加班，晚点回", "孩子作业写完了没",
    "老板又改需求了", "你看昨晚的比赛了吗", "这家火锅店不错，下次带你去", "路上堵车，晚十分钟",
    "生日快乐！", "谢谢你的礼物", "猫又把花盆打翻了", "地铁停运了，打车回去", "在吗？",
    "文件已经发你邮箱了", "下周二请假", "房租该交了", "帮我点杯奶茶，少糖去冰",
    "好久不见，最近怎么样",
    "群里通知一下，周五团建", "这个bug我来修", "晚安", "早上好", "吃了吗", "哪天有空聚聚",
    "车票买好了吗", "医院排队排了两个小时", "新手机到了", "这周末搬家，来帮忙吗",
    "刚跑完五公里", "图片收到了，挺好看", "我在开会，等下回你", "你把定位发我", "别忘了带钥匙",
)  # fmt: skip
CHAT_EN = (
    "see you tonight", "ok thanks", "running late, 10 min", "lol that's hilarious",
    "can you send me the file?", "happy birthday!!", "what time is the meeting",
    "let's grab coffee tomorrow", "did you watch the game", "I'm at the station",
    "sounds good", "call me when you're free", "sorry, in a meeting", "good morning",
    "the train is delayed again", "dinner at 7?", "thanks for the photos", "on my way",
)  # fmt: skip
MICROBLOG_ZH = (
    "打卡第30天，坚持跑步", "这部剧的结局我不能接受！！", "天涯海角，我们一起去看海",
    "早起的鸟儿有虫吃", "今天的地铁上看到一只超乖的导盲犬", "分享一首最近单曲循环的歌",
    "周末探店：这家咖啡馆的拿铁真的绝了", "新的一年，新的开始", "加油打工人",
    "转发这条锦鲤，祝大家考试顺利", "今天的晚霞太美了", "读完了《三体》，久久不能平静",
    "城市的夜景总让人想家", "记录一下第一次做的蛋糕", "春天来了，公园的花都开了",
    "世界杯今晚开赛，谁会夺冠？", "晒晒我家主子", "这个政策对租房的人是好消息",
)  # fmt: skip
MICROBLOG_EN = (
    "Day 30 of my running streak", "Best coffee in town, no contest", "What a sunset tonight",
    "Finally finished the book, highly recommend", "New year, new goals", "My cat says hi",
)  # fmt: skip
# Benign messages that contain words a filter might trip on (to measure false positives).
HARD_NEGATIVES = (
    "快递说明天上门取件", "楼下新开了家快餐店，味道一般", "周末去按摩店放松一下",
    "昨晚网吧包夜打游戏",
    "方便的话加个微信，把会议资料发你", "我的QQ邮箱发你了", "新闻说有人用裸照敲诈被抓了",
    "彩票站今天人好多", "给你转账了，记得查收", "学生证丢了怎么办", "美女老师今天讲得真好",
    "免费上门安装空调", "全套家具打折", "他们在群里骂来骂去，真无聊",
    "银行客服说账户要升级，我没理",
    "这个视频太搞笑了，发给你看看", "去澳门旅游，顺便看了看赌场外面", "兼职做家教，一小时150",
    "送货上门，满99包邮", "我们公司在招聘，简历发我邮箱", "I had a massage after the marathon",
    "the escort ship left the harbour at noon", "therapist appointment at 3",
)  # fmt: skip
# --- the benchmark corpus (screener.synthetic.corpus) ---

# The most frequent simplified characters, roughly in frequency order.
RANKED_COMMON = (
    "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学"
    "对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头"
    "面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向"
    "情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信"
    "北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难"
    "神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物"
    "台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指"
    "思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步"
    "完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双"
)
WORDS_EN = [
    "ok",
    "see",
    "you",
    "later",
    "tonight",
    "thanks",
    "lol",
    "what",
    "time",
    "meeting",
    "free",
    "call",
    "me",
    "maybe",
    "the",
    "club",
    "game",
    "photo",
    "share",
    "happy",
    "birthday",
    "coffee",
    "work",
    "home",
    "train",
    "late",
    "sorry",
    "good",
    "morning",
    "weekend",
    "plan",
    "movie",
    "dinner",
    "where",
    "are",
    "you",
    "send",
    "link",
    "price",
    "order",
    "ship",
    "today",
    "news",
    "great",
    "love",
    "this",
]
CORPUS_VIOLATIONS = (
    "约炮加V信{id}", "包夜 上门服务 薇❤信 {id}", "兼职刷单日结 加ｑｑ{qq}",
    "网赌上分 充值送彩金 {url}", "高清无码视频 私聊 vx:{id}", "不给钱就把你的裸照发给你家人",
    "同城約炮 1⃣8⃣8⃣{phone}", "escort service call {phone2} tonight",
    "代开发票 办证 电话{phone2}", "百家乐 稳赚不赔 加微{id}",
)  # fmt: skip


def corpus_violation(rng: random.Random) -> str:
    """A benchmark-corpus violation: one of `CORPUS_VIOLATIONS` with fictitious contacts."""
    return rng.choice(CORPUS_VIOLATIONS).format(
        id=f"ab{rng.randint(1000, 99999)}", qq=rng.randint(10**7, 10**9),
        url=f"www.{rng.choice(['win88', 'lucky', 'bet365x'])}.com",
        phone=f"{rng.randint(10**7, 10**8 - 1)}", phone2=f"13{rng.randint(10**8, 10**9 - 1)}",
    )  # fmt: skip


def corpus_benign(rng: random.Random) -> str:
    """A benchmark-corpus line: CJK words over `RANKED_COMMON` and English words, ~40 chars."""
    parts: list[str] = []
    length = 0
    target = rng.choice((8, 16, 24, 40, 40, 48, 64, 80))
    while length < target:
        if rng.random() < 0.7:
            piece = "".join(
                "".join(rng.choice(RANKED_COMMON) for _ in range(rng.randint(1, 4)))
                for _ in range(rng.randint(1, 4))
            )
        else:
            piece = " ".join(rng.choice(WORDS_EN) for _ in range(rng.randint(1, 3)))
        parts.append(piece)
        length += len(piece) + 1
    return rng.choice(("，", " ", "！", "。")).join(parts)


TOPICS = ("#日常#", "#美食#", "#旅行#", "#读书#", "#跑步#", "#音乐#", "#萌宠#", "#电影#", "#工作#")
EMOJI = ("😂", "👍", "🙏", "❤️", "😭", "🎉", "🤔", "😅", "🌸", "☕")
CITIES = ("北京", "上海", "广州", "深圳", "东莞", "佛山", "哈尔滨", "成都", "重庆", "杭州")
CITIES_EN = ("Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Dongguan")
COMMON = RANKED_COMMON[:44]


def fill(template: str, rng: random.Random) -> str:
    """Fill a template's slots with plausible contacts, prices and links."""
    return template.format(
        wx=rng.choice(("mm_", "vip", "ab", "lili", "xx", "")) + str(rng.randint(1000, 999999)),
        qq=rng.randint(10**7, 10**10 - 1),
        phone=f"1{rng.choice('3578')}{rng.randint(10**8, 10**9 - 1)}",
        phone_uk=f"0{rng.choice(('8707', '9061', '8712'))}{rng.randint(100000, 999999)}",
        price=rng.choice((200, 300, 400, 500, 600, 800)),
        price2=rng.choice((800, 1000, 1200, 1500, 2000)),
        amount=rng.choice(("两万", "五万", "三千", "一万", "20000", "50000")),
        url=f"https://{rng.choice(('win88', 'lucky', 'bet365x', 'hj', 'tk-pay'))}"
        f"{rng.randint(1, 999)}.{rng.choice(('com', 'top', 'xyz', 'cc'))}/{rng.randint(1, 99)}",
        domain=f"{rng.choice('abcdefghjk')}{rng.randint(10, 99)}{rng.choice('xyzw')}.top",
        city=rng.choice(CITIES), city_en=rng.choice(CITIES_EN),
    )  # fmt: skip


def _length(rng: random.Random, median: float, sigma: float, lo: int, hi: int) -> int:
    return max(lo, min(hi, round(rng.lognormvariate(0, sigma) * median)))


def benign_text(rng: random.Random, kind: str) -> str:
    """A benign message: Chinese (70%), English (15%) or mixed, of a realistic length.

    Chat: median ~12 characters with a long tail; microblog: median ~45, up to 2,000.
    """
    if rng.random() < 0.03:
        return rng.choice(HARD_NEGATIVES)
    chat = kind == "chat"
    target = _length(rng, 12 if chat else 45, 0.9, 1, 400 if chat else 2000)
    lang = rng.random()
    zh_bank, en_bank = (CHAT_ZH, CHAT_EN) if chat else (MICROBLOG_ZH, MICROBLOG_EN)
    parts: list[str] = []
    size = 0
    while size < target:
        roll = rng.random()
        if lang < 0.7:
            piece = rng.choice(zh_bank) if roll < 0.95 else "".join(rng.choices(COMMON, k=4))
        elif lang < 0.85:
            piece = rng.choice(en_bank)
        else:
            piece = rng.choice(zh_bank) if roll < 0.5 else rng.choice(en_bank)
        parts.append(piece)
        size += len(piece) + 1
    text = rng.choice(("，", " ", "。", "！", "～")).join(parts)
    if rng.random() < 0.15:
        text += rng.choice(EMOJI)
    if not chat and rng.random() < 0.3:
        text += " " + rng.choice(TOPICS)
    return text


# --- the sample events (seeds/events): everyday traffic -------------------------------------------


def _lines(block: str) -> list[str]:
    """One phrase per non-empty line."""
    return [line.strip() for line in block.strip().splitlines() if line.strip()]


PLACES = ["楼下", "公司门口", "地铁站", "小区门口", "万达", "学校东门", "火车站", "星巴克"]
FOODS = ["火锅", "麻辣烫", "饺子", "烤鱼", "黄焖鸡", "螺蛳粉", "披萨", "拉面"]
TIMES = ["七点", "八点半", "十点", "中午", "下午三点", "晚上九点", "明天早上"]
NAMES = ["小王", "老李", "阿杰", "婷婷", "张姐", "小陈", "刘老师", "阿明"]

CHAT_BENIGN_ZH = _lines("""
今晚吃{food}吗？
我到{place}了，你在哪
{time}开会，别忘了
好的收到
哈哈哈笑死我了
周末一起去爬山吗
帮我带杯奶茶，少糖去冰
快递到了吗？
妈，我这周末回家吃饭
孩子发烧了，我请半天假
会议改到{time}了
这个PPT你再帮我看一下
地铁好挤啊
下雨了记得带伞
{name}生日快乐！🎂
明天{time}在{place}见
刚下班，累死了
这家{food}真不错，下次带你来
收到，我马上处理
你看昨晚的球赛了吗
房租这个月几号交？
我的微信号换了，加我新的吧
群里的文件谁下载一下
在吗？
车堵在高架上了，晚点到
猫又把杯子打碎了😂
老师布置的作业是第三章
体检报告出来了，一切正常
这周末加班，去不了了
电影票买好了，七排中间
我妈让你周末来家里吃饭
晚安
谢谢老板的红包🧧
今天股市又跌了
高铁票抢到了！
{name}，你的快递放门卫了
空调坏了，找了上门维修师傅
楼下快餐店300米外就有一家，还不错
冷得我瑟瑟发抖
周末一起打麻将吗，三缺一
德州扑克的规则是什么？
他月入三万还说不够花
我一小时能跑10公里
垃圾分类真麻烦
我家小狗走丢了，大家帮忙转发
房贷利率又降了
这篇小红书笔记写得真好
天涯海角也要去看你
抖音上那个视频笑死我了
原味酸奶和草莓味哪个好喝？
新政策出台了，大家看一下通知
你帮我把垃圾倒一下
上门取件10元，挺方便的
刚抢到一个红包，才两毛
单位通知下周体检
谁有充电宝借我用一下
""")
CHAT_BENIGN_EN = _lines("""
running 10 min late, sorry!
see you at the station
happy birthday!! 🎉
can you send me the report before noon?
lol that's hilarious
what time is dinner?
ok, on my way
did you feed the cat?
meeting moved to 3pm
thanks, got it
call me when you land
the train is delayed again
free this weekend? hiking?
I won the pub quiz last night, £20 prize haha
text me when you're home
my new phone has a great camera
good morning ☀️
who's bringing the snacks?
""")

MICROBLOG_BENIGN_ZH = _lines("""
今天的晚霞太美了 #晚霞#
周末去{place}附近新开的书店逛了逛，推荐！
自己做的{food}，第一次就成功了
打卡第30天，坚持跑步 #跑步#
这部剧的结局我不能接受！！
分享一首最近单曲循环的歌
终于考完试了，放假啦
{name}推荐的这家{food}真的绝了
台风要来了，大家注意安全
新手机到了，拍照效果不错
今天的地铁上看到一只超乖的导盲犬
为中国队加油！#奥运#
第一次尝试手冲咖啡，翻车了哈哈
读完了一本好书，强烈推荐
早起的鸟儿有虫吃
这波降温也太突然了，冷得瑟瑟发抖
德州扑克入门规则整理，欢迎补充
垃圾分类小知识，转需
警方提醒：公检法不会要求转账到安全账户，谨防诈骗
扫黄打非办公布了一批典型案件，网络不是法外之地
快餐店300米外新开了一家面馆
求推荐上门维修空调的师傅
天涯海角，我们一起去看海
""")
MICROBLOG_BENIGN_EN = _lines("""
Sunset at the beach tonight 🌅
Finished my first half marathon!
New recipe: mapo tofu, turned out great
Reading list for August, suggestions welcome
The new museum wing is open to the public from today
Coffee and code, the usual
""")

# Captions of the image-flood account (the Dongguan case).
FLOOD_CAPTIONS = _lines("""
福利来了，大尺度套图，懂的来
今日福利 无圣光套图 #福利#
私房照更新，看图点赞
美女写真合集，原图私信
""")

SAMPLE_TOPICS = ["#日常#", "#美食#", "#旅行#", "#读书#", "#运动#", "#摄影#", "#宠物#", "#音乐#"]


# --- the sample events: violations, from the seed report's cases -------------------------------


def solicitation(f: Faker) -> str:
    area = f.pick(["东莞", "佛山", "哈尔滨", "同城", "广州天河", "北京朝阳"])
    p1, p2 = f.rng.choice([300, 400, 500, 600]), f.rng.choice([800, 1000, 1200, 1500])
    return f.rng.choice([
        f"{area}美女上门，快餐{p1}，包夜{p2}，{f.wechat()}",
        f"学生妹可外出，{p1}一次，{f.contact()}",
        f"同城约-炮，真人照片，{f.qq_obfuscated()}",
        f"約炮嗎？{area}可約，{f.wechat()}",
        f"{area}楼凤上门服务，快餐{p1}，联系 {f.phone_obfuscated()}",
        f"夜场招聘小妹，日结高薪，包吃住，形象气质佳，{f.wechat()}",
        f"今晚有空的妹子群里报名，{area}酒店，{p1}一次，老规矩加{zero_width_join('微信')}",
        f"莞式全套，{p2}包夜，{f.contact()}",
    ])  # fmt: skip


def porn(f: Faker) -> str:
    return f.rng.choice([
        f"出原味袜子，私我 {f.wechat()}",
        f"自录视频15元200个，要的加 {f.qq_obfuscated()}",
        f"海角社区网址更新了，懂得来 {f.domain()}",
        "有没有聊色的姐姐，能文爱吗",
        f"收一只听话的小母狗，{f.wechat()}",
        f"无码资源打包出售，{f.contact()}",
        "可以涩涩吗/害羞",
        f"{zero_width_join('文爱')}的加我",
    ])  # fmt: skip


def illicit_ads(f: Faker) -> str:
    return f.rng.choice([
        f"抖音代发一单五米，长期合作，{f.wechat()}",
        f"dy代發 一箪70，纯绿色不封号，{f.qq_obfuscated()}",
        "小红书发文做吗？五米一条，做的来",
        f"需要涨粉丝或者点赞吗？真人粉，价优，{f.contact()}",
        f"短信群发，代发短信，三网通，{f.qq_obfuscated()}",
        "新店需要刷子，一单一结，有的加我",
        "抄小说复制粘贴就行，一天三位数，来不来",
        f"代开发票，各行业都可以，{f.phone_obfuscated()}",
    ])  # fmt: skip


def gambling(f: Faker) -> str:
    return f.rng.choice([
        "金花牛牛三公，一毛一分，玩的加我",
        f"新人首存100送100，浏览器搜索 {f.domain()}",
        f"{circled(f.domain().split('.')[0])}.𝕥𝕠𝕡 新人必红，大放水",
        "金🌸牛🐮跑🉐快，皆🉑拉",
        f"问鼎大舞台，注册送88，{f.wechat()}",
        f"德州 1/2 5/10 25/50 自建房，{f.wechat()}",
        "新澳内幕，期期准，需要的私我",
    ])  # fmt: skip


def fraud(f: Faker) -> str:
    return f.rng.choice([
        "带人做项目，不需要投资，一小时700，两部手机就行，做的佳我",
        f"日结两千起，急需用钱的联系 {f.wechat()}",
        "无前期，不看征信，黑户白户都能下款，私聊",
        f"收一类卡，当天1-6w，需要的私 {f.qq_obfuscated()}",
        "宝妈在家做副业，月入三万，零投资，加我",
        "您的账户涉嫌洗钱已被冻结，请将资金转入安全账户",
        "URGENT! You have WON a guaranteed £1000 cash prize. Call 09061743806 to claim",
        "一小时③⓪⓪，有手机就行，私我",
    ])  # fmt: skip


def extortion(f: Faker) -> str:
    amount = f.pick(["两万", "五万", "3万", "八千"])
    return f.rng.choice([
        f"你嫖娼的视频在我手上，不给{amount}就发给你老婆",
        f"你的裸照我都存了，今晚之前转{amount}，否则群发你通讯录",
        "聊天记录截图我都有，限你三小时内打钱，不然发到你们单位群",
        f"你手机通讯录我已经导出了，视频不想被发出去就转账{amount}",
        "I recorded you through your webcam. Pay $2000 in bitcoin or I send the video to all "
        "your contacts",
        f"你的祼照我有，不給錢就曝光，{amount}私了",
    ])  # fmt: skip


def abuse(f: Faker) -> str:
    return f.rng.choice([
        "你个傻逼，会不会玩", "没浮木的东西，滚", "你怎么不去死", "傻 逼 队友", "你脑残吧",
        "你木琴呢，继续对线啊", "ＳＢ", "fuck you, don't text me again",
    ])  # fmt: skip


VIOLATION_WRITERS: dict[str, Callable[[Faker], str]] = {
    "solicitation": solicitation,
    "porn": porn,
    "illicit_ads": illicit_ads,
    "gambling": gambling,
    "fraud": fraud,
    "extortion": extortion,
    "abuse": abuse,
}


def sample_benign(f: Faker, kind: str) -> str:
    """An everyday sample line (chat or microblog, mostly Chinese) with its slots filled."""
    if kind == "chat":
        pool = CHAT_BENIGN_EN if f.rng.random() < 0.2 else CHAT_BENIGN_ZH
    else:
        pool = MICROBLOG_BENIGN_EN if f.rng.random() < 0.15 else MICROBLOG_BENIGN_ZH
    return f.pick(pool).format(
        food=f.pick(FOODS), place=f.pick(PLACES), time=f.pick(TIMES), name=f.pick(NAMES)
    )
