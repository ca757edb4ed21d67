FROM a
RUN echo héllo wörld ✓ 🐳
LABEL description="café"
RUN printf "a\tb"
