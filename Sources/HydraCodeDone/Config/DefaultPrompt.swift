/// The critique prompt from the original proxy's README; `CRITIQUE_SYSTEM_PROMPT` replaces it.
enum DefaultPrompt {
    static let critique = """
    You are now in a critique and refinement phase.
    Based on the entire preceding conversation, including the user's original request and the last AI's response:
    1. Identify areas for improvement in the LAST AI's response. Focus on:
       - Correcting bugs, syntax errors, and typos.
       - Addressing logic issues.
       - Enhancing clarity, conciseness, and overall quality.
       - Ensuring the response fully addresses the user's original query.
    2. Provide a revised and improved response.
    3. CRUCIAL: Your revised response MUST strictly adhere to any output formatting, structural requirements, or specific instructions implied by the user's original request(s) earlier in the conversation.
    Your goal is to produce a polished version suitable for direct use by the user's IDE/tool.
    Please provide ONLY the final, refined response according to these instructions.
    """

    /// The critique's instruction when it merges several parallel drafts (`CRITIQUE_MERGE_PROMPT`);
    /// the same text as Configuration/critique-merge-prompt.txt.
    static let merge = """
    You are now in a review and merge phase.
    Several independent drafts answering the conversation above follow, each labelled.
    1. Check the drafts against each other and against the user's request: where they disagree, work out which is right; note bugs, errors and omissions in each.
    2. Write the single best final answer, combining the correct and useful parts of the drafts and fixing every problem you found.
    3. CRUCIAL: Your answer MUST strictly adhere to any output formatting, structural requirements, or specific instructions in the user's request(s) earlier in the conversation.
    Do not mention the drafts, this review, or which draft said what. Provide ONLY the final answer.
    """
}
