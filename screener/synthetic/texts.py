"""What generated traffic says: benign chat and microblog text, and violations per category.

Violations follow the cases of the seed report (../shared/seeds): WeChat rings advertising
and organising prostitution with contact details (Foshan, Beijing), an account posting
thousands of obscene images (Dongguan, 8,951 images), blackmail of clients after the deal
(Harbin), plus the grey-market adverts, gambling and fraud that share the same channels.
Terms a filter looks for are marked `[[…]]` so that `screener.synthetic.evasion` can disguise them;
`{slots}` are filled with contacts, prices and links.
"""

from __future__ import annotations

import random

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
TOPICS = ("#日常#", "#美食#", "#旅行#", "#读书#", "#跑步#", "#音乐#", "#萌宠#", "#电影#", "#工作#")
EMOJI = ("😂", "👍", "🙏", "❤️", "😭", "🎉", "🤔", "😅", "🌸", "☕")
CITIES = ("北京", "上海", "广州", "深圳", "东莞", "佛山", "哈尔滨", "成都", "重庆", "杭州")
CITIES_EN = ("Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Dongguan")
COMMON = "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家"


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
