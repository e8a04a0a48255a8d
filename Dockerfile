# Image of the project for docker compose: Node 20 with the dependencies installed.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.build.json
CMD ["npx", "jest", "--ci", "--runInBand"]
