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
}
