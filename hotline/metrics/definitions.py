"""Every figure the reports show: its Chinese name, unit, formula and the standard behind it.

One place for the vocabulary: table headers, exports and ``docs/metrics.md`` use these names;
the arithmetic lives next to the data it needs (:mod:`~hotline.metrics.call_tally` for calls,
:mod:`~hotline.metrics.ticket_facts` and :mod:`~hotline.metrics.service` for cases). Sources:
civic-research §4.2 (call-centre formulas), §2.2/§2.3 (GB/T 33358 and local centre targets) and
§1.7 (数字城管 case indicators); where the sources leave a choice open, the choice is written in
``formula`` and in the docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "SHORT_ABANDON_SECONDS", "DEFAULT_SERVICE_LEVEL_SECONDS", "Unit", "Definition", "DEFINITIONS",
    "definition", "ratio", "mean",
]

#: Abandons shorter than this leave the abandon rate and the service level (civic-research §4.2:
#: Ivanti's default, configurable in the sources; ours is a constant until an operator asks).
SHORT_ABANDON_SECONDS = 5.0
#: GB/T 33358-2016: phone calls answered within 15 s. Each queue may set its own
#: ``service_level_seconds`` in routing_rules.yaml; this is the value when a queue is unknown.
DEFAULT_SERVICE_LEVEL_SECONDS = 15.0


class Unit(str, Enum):
    COUNT = "count"        # 件 / 次 / 通
    RATE = "rate"          # a fraction 0…1, shown as a percentage
    SECONDS = "seconds"    # a duration, shown in 时/分/秒
    SCORE = "score"        # 0…100 points
    TEXT = "text"


@dataclass(frozen=True)
class Definition:
    key: str
    label: str                 # what staff see (table header)
    unit: Unit
    formula: str               # how it is computed, in the report's terms
    standard: str = ""         # where the definition or its target comes from
    target: float | None = None  # a standard's target, when one exists (rates as fractions)
    lower_is_better: bool = False


_D = Definition
_U = Unit

DEFINITIONS: dict[str, Definition] = {d.key: d for d in (
    # --- calls (a call = one citizen conversation; queue figures count queue entries) -----------
    _D("calls", "呼入量", _U.COUNT, "开始时间在统计期内的来电数"),
    _D("ivr_entered", "进入语音导航", _U.COUNT, "IVR 路径非空的来电数"),
    _D("self_served", "自助服务完成", _U.COUNT, "处置结果为自助服务完成（IVR 标记 HotlineSelfServed）的来电数"),
    _D("containment_rate", "IVR 自助率", _U.RATE, "自助服务完成 ÷ 进入语音导航",
       "civic-research §4.2（来源未核实的通行定义）"),
    _D("offered", "进入人工队列", _U.COUNT, "进入人工队列的来电数（O，相当于 queue_log ENTERQUEUE）",
       "civic-research §4.2"),
    _D("answered", "人工接通", _U.COUNT, "坐席接起的来电数（A，CONNECT）", "civic-research §4.2"),
    _D("abandoned", "排队放弃", _U.COUNT, "进入队列后未接通即挂机的来电数（B，ABANDON），含短时放弃",
       "civic-research §4.2"),
    _D("short_abandoned", "短时放弃", _U.COUNT,
       f"等待不足 {SHORT_ABANDON_SECONDS:g} 秒即放弃的来电数（Bs），不计入放弃率和服务水平", "civic-research §4.2"),
    _D("answer_rate", "人工接通率", _U.RATE, "人工接通 ÷ 进入人工队列（A ÷ O）",
       "GB/T 33358-2016：24 小时呼叫接通率 ≥ 95%", 0.95),
    _D("abandon_rate", "放弃率", _U.RATE, "(排队放弃 − 短时放弃) ÷ (进入人工队列 − 短时放弃)",
       "civic-research §4.2", None, True),
    _D("service_level", "服务水平", _U.RATE,
       "规定时限内接通 ÷ (进入人工队列 − 短时放弃)；时限取队列的 service_level_seconds（默认 15 秒）",
       "GB/T 33358-2016：15 秒内应答；civic-research §4.2 SL(T)"),
    _D("answered_in_time_rate", "接听及时率", _U.RATE, "规定时限内接通 ÷ 人工接通",
       "地方热线中心考核：人工应答及时率 ≥ 80%（civic-research §2.3）", 0.80),
    _D("asa", "平均应答时长", _U.SECONDS, "接通来电的排队等待时长之和 ÷ 人工接通（ASA）",
       "civic-research §4.2", None, True),
    _D("max_wait", "最长等待", _U.SECONDS, "进入人工队列的来电中最长的排队等待", "", None, True),
    _D("aht", "平均处理时长", _U.SECONDS,
       "(通话时长之和 + 话后整理时长之和) ÷ 已结束的接通来电；话后整理按队列 wrapup_seconds 计（尚未按坐席记录）",
       "civic-research §4.2 AHT"),
    _D("avg_talk", "平均通话时长", _U.SECONDS, "通话时长之和 ÷ 已结束的接通来电"),
    _D("voicemail", "留言", _U.COUNT, "非人工服务时间留言的来电数"),
    _D("transferred", "转旗区接通", _U.COUNT, "转接旗区受理电话并接通的来电数"),
    _D("failed", "未接通", _U.COUNT, "未能接通的来电数（发起失败、线路拥塞、转接失败后挂机）"),
    _D("transfer_attempts", "转接次数", _U.COUNT, "转接旗区受理电话的次数（不含仍在振铃的）"),
    _D("transfer_answered", "转接接通", _U.COUNT, "旗区受理电话接起的转接次数"),
    _D("transfer_cancelled", "来电人挂机", _U.COUNT, "振铃中来电人挂机（转接被取消）的次数"),
    _D("transfer_success_rate", "转接成功率", _U.RATE, "转接接通 ÷ (转接次数 − 来电人挂机)"),
    # --- callbacks (回访) from the ticket log --------------------------------------------------
    _D("callback_calls", "回访拨打", _U.COUNT, "回访结果与回访未接通记录之和（统计期内）"),
    _D("callback_unreached", "回访未接通", _U.COUNT, "统计期内的回访未接通记录数"),
    _D("callbacks", "回访数", _U.COUNT, "统计期内记录回访结果的次数（参评数）"),
    _D("callback_reach_rate", "回访接通率", _U.RATE, "回访数 ÷ 回访拨打"),
    _D("satisfied", "满意", _U.COUNT, "回访结果为满意的次数"),
    _D("basically_satisfied", "基本满意", _U.COUNT, "回访结果为基本满意的次数"),
    _D("dissatisfied", "不满意", _U.COUNT, "回访结果为不满意的次数"),
    _D("satisfaction_rate", "满意率", _U.RATE, "(满意 + 基本满意) ÷ 回访数",
       "接诉即办“三率”之满意率的通行算法（civic-research §2.3，权重未核实）"),
    _D("callbacks_on_time", "按时回访", _U.COUNT, "在回访时限内记录结果的回访数"),
    _D("callback_on_time_rate", "回访及时率", _U.RATE, "按时回访 ÷ 回访数"),
    # --- cases: intake cohort (受理 in the period) -------------------------------------------
    _D("received", "受理数", _U.COUNT, "统计期内受理（创建）的工单数"),
    _D("answered_directly", "直接答复", _U.COUNT, "受理后直接答复办结的工单数（咨询）"),
    _D("rejected", "不予立案", _U.COUNT, "受理后不予立案的工单数"),
    _D("merged", "受理并案", _U.COUNT, "受理时并入已有工单的重复件数"),
    _D("registered", "立案数", _U.COUNT, "统计期内受理、已立案的工单数"),
    _D("register_rate", "立案率", _U.RATE, "立案数 ÷ (受理数 − 直接答复 − 受理并案)",
       "数字城管 立案数/有效上报数（civic-research §1.7）"),
    _D("closed", "结案数", _U.COUNT, "统计期内受理、已立案且已核查结案的工单数"),
    _D("close_rate", "结案率", _U.RATE, "结案数 ÷ 立案数（按受理时间归期）", "civic-research §1.7"),
    # --- cases: disposal (处置) attributed to its due moment -----------------------------------
    _D("due_handle", "应处置数", _U.COUNT,
       "处置截止时间在统计期内（按期反馈的按反馈时间）且已到期或已反馈的案件数", "civic-research §1.7"),
    _D("handled", "处置数", _U.COUNT, "应处置案件中已反馈（处置完成）的数"),
    _D("handled_on_time", "按期处置数", _U.COUNT, "首次反馈不晚于其处置截止时间（含批准的延期）的数"),
    _D("handled_late", "超期处置数", _U.COUNT, "首次反馈晚于处置截止时间的数"),
    _D("overdue_unhandled", "超期未处置数", _U.COUNT, "处置截止时间已过仍未反馈的数"),
    _D("handle_rate", "处置率", _U.RATE, "处置数 ÷ 应处置数", "civic-research §1.7"),
    _D("on_time_handle_rate", "按期处置率", _U.RATE, "按期处置数 ÷ 应处置数", "civic-research §1.7"),
    _D("rework", "返工数", _U.COUNT, "处置数中核查不通过（返工）至少一次的案件数"),
    _D("rework_rate", "返工率", _U.RATE, "返工数 ÷ 处置数", "civic-research §1.7（返工数/处置数）", None, True),
    _D("overdue", "超期件数", _U.COUNT, "超期处置数 + 超期未处置数", "civic-research §1.7", None, True),
    # --- cases: closure (结案) attributed to its due moment -----------------------------------
    _D("due_close", "应结案数", _U.COUNT, "结案截止时间在统计期内（按期结案的按结案时间）且已到期或已结案的案件数",
       "civic-research §1.7（应结案 = 本期到期）"),
    _D("closed_in_due", "已结案", _U.COUNT, "应结案案件中已核查结案的数"),
    _D("closed_on_time", "按期结案数", _U.COUNT, "首次结案不晚于结案截止时间的数（核查时限，未设则为处置时限）"),
    _D("on_time_close_rate", "按期结案率", _U.RATE, "按期结案数 ÷ 应结案数", "civic-research §1.7"),
    # --- cases: time per stage (first pass, tickets received in the period) -------------------
    _D("avg_intake", "平均受理时长", _U.SECONDS, "受理 → 立案", "civic-research §1.7 平均受理时长"),
    _D("avg_accept", "平均签收时长", _U.SECONDS, "首次派遣 → 首次签收"),
    _D("avg_handle", "平均处置时长", _U.SECONDS, "首次签收 → 首次反馈", "civic-research §1.7 平均处置时长"),
    _D("avg_verify", "平均核查时长", _U.SECONDS, "首次反馈 → 首次结案（含返工）"),
    _D("avg_callback", "平均回访间隔", _U.SECONDS, "首次结案 → 首次回访"),
    _D("avg_total", "平均办结时长", _U.SECONDS, "受理 → 首次结案"),
    # --- now ----------------------------------------------------------------------------------
    _D("open_now", "在办工单", _U.COUNT, "当前处于在办状态的工单数（受理、立案、派遣、处置中、退回、延期申请、待核查）"),
    _D("overdue_now", "当前超时", _U.COUNT, "当前有时限已过且仍在计时的环节的工单数", "", None, True),
    # --- assessment -----------------------------------------------------------------------------
    _D("score", "综合得分", _U.SCORE, "各项指标按权重加权（百分制），无数据的指标不计入、权重按比例重分",
       "CJ/T 292 综合指标值（权重未获取，本地配置，见 docs/metrics.md）"),
    _D("rank", "排名", _U.COUNT, "按综合得分由高到低，同分同名次"),
    _D("rating", "评价等级", _U.TEXT, "≥90 优秀，≥80 良好，≥60 合格，其余不合格（本地配置）"),
)}


def definition(key: str) -> Definition:
    return DEFINITIONS[key]


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when there is nothing to divide by (shown as “—”)."""
    if not denominator or denominator <= 0:
        return None
    return numerator / denominator


def mean(total: float | None, count: float) -> float | None:
    if total is None or not count:
        return None
    return total / count
